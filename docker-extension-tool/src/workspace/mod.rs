//! The workspace: the extension's config (read, validated, typed) and the facts of this
//! machine that a plan depends on.

pub mod config;
pub mod machine;
pub mod migrate;

#[cfg(test)]
pub(crate) mod sample;
