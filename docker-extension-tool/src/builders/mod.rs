//! Building what the image carries: cargo runs (artifacts from cargo's own messages), the
//! tools they need (rustup targets, zig, cargo-zigbuild, cross), the UI's contract and build, and what the
//! binaries and the UI are made of (the SBOM's packages).

pub(crate) mod cargo;
pub(crate) mod contract;
pub(crate) mod downloads;
pub(crate) mod inventory;
pub(crate) mod tools;
pub(crate) mod ui;
