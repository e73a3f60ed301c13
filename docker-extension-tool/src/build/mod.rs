//! Building what the image carries: cargo runs (artifacts from cargo's own messages), the
//! tools they need (rustup targets, zig, cargo-zigbuild, cross), the UI build.

pub(crate) mod cargo;
pub(crate) mod tools;
pub(crate) mod ui;
