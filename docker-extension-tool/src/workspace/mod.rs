//! The workspace: the extension's config (read, validated, typed, migrated between format
//! versions), the files the template owns, the tool's pin and the Rust toolchain's, and the facts of this machine
//! that a plan depends on.

pub(crate) mod config;
pub(crate) mod crates;
pub(crate) mod machine;
pub(crate) mod migrate;
pub(crate) mod owned;
pub(crate) mod pin;
pub(crate) mod toolchain;

#[cfg(test)]
pub(crate) mod sample;
