//! The workspace: the extension's config (read, validated, typed, migrated between format
//! versions), the files the template owns, the tool's pin, and the facts of this machine
//! that a plan depends on.

pub mod config;
pub mod machine;
pub mod migrate;
pub mod owned;
pub mod pin;

#[cfg(test)]
pub(crate) mod sample;
