//! The build tool of Docker Desktop extensions written in Rust: what `cargo xtask` runs in an
//! extension made from the template (`dist`, `dev`, `check`, `test`, `new`, …).
//!
//! An extension's `xtask/src/main.rs` hands over to it, and adds tasks of its own:
//!
//! ```no_run
//! use docker_extension_tool::Tasks;
//!
//! fn main() -> std::process::ExitCode {
//!     Tasks::new()
//!         .task("hello", "Print the workspace's folder", |task| {
//!             println!("hello from {}", task.root());
//!             Ok(())
//!         })
//!         .run()
//! }
//! ```
//!
//! `cargo xtask help` lists the tool's commands and the extension's tasks. Inside, the tool
//! is a small compiler: config → request → plan (plain data) → builds → context → image →
//! check. Its modules are layers, each using only those below it: see ARCHITECTURE.md.

#![warn(unreachable_pub, missing_docs)]

mod builders;
mod cli;
mod context;
mod dev;
mod image;
mod model;
mod pipeline;
mod plan;
#[cfg(feature = "registry")]
mod registry;
#[cfg(feature = "self-test")]
mod testing;
mod util;
mod verify;
mod workspace;

#[cfg(feature = "self-test")]
pub use cli::self_test;
pub use cli::suite::TestSuite;
pub use cli::tasks::{TaskContext, Tasks};

/// The registry client's binary (`docker-extension-registry`, feature `registry`): built by
/// the builtin engine on its first push, not an API.
#[cfg(feature = "registry")]
#[doc(hidden)]
pub use registry::main as registry_client_main;

/// The tool's commands alone, with no task of an extension's: `Tasks::new().run()`.
pub fn main() -> std::process::ExitCode {
    Tasks::new().run()
}
