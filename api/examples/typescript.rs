//! Prints the TypeScript declarations of the contract's types (ts-rs). `cargo xtask dist`
//! and `dev` run this and write what it prints to the UI's `src/api.ts`, after a header; the
//! extension's tests fail when that file is not what this prints.

fn main() {
    print!("{}", rust_starter_api::typescript());
}
