//! The command line: [`tasks::Tasks`] (what an extension's xtask runs), flags (lexopt) and
//! one module per command.

pub(crate) mod bench;
pub(crate) mod build_host;
pub(crate) mod check;
pub(crate) mod contract;
pub(crate) mod desktop;
pub(crate) mod dev;
pub(crate) mod dist;
pub(crate) mod doctor;
pub(crate) mod flags;
pub(crate) mod new;
pub(crate) mod release_tag;
#[cfg(feature = "self-test")]
pub mod self_test;
pub(crate) mod setup;
pub(crate) mod tasks;
pub(crate) mod test;
pub(crate) mod upgrade;
pub(crate) mod validate;
#[cfg(test)]
mod workflow_commands;
