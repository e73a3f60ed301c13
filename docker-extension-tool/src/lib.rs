//! The build tool of Docker Desktop extensions written in Rust: what `cargo xtask` runs in
//! an extension made from the template.
//!
//! Shape: config (what the author wrote) → plan (plain data: builds, layout, image
//! commands) → run. The modules are layers, each using only those below it (see
//! ARCHITECTURE.md).

pub mod build;
pub mod cli;
pub mod context;
pub mod dev;
pub mod image;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod testing;
pub mod util;
pub mod verify;
pub mod workspace;

pub use cli::main;
