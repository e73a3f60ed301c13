//! The command line: [`tasks::Tasks`] (what an extension's xtask runs), flags (lexopt) and
//! one module per command.

pub mod bench;
pub mod build_host;
pub mod check;
pub mod dev;
pub mod dist;
pub mod doctor;
pub mod flags;
pub mod new;
#[cfg(feature = "self-test")]
pub mod self_test;
pub mod setup;
pub mod tasks;
pub mod test;
pub mod upgrade;
pub mod validate;
