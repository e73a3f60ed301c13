//! The tool's integration tests: one binary, one module per area (the real command run
//! against fixtures, a real Docker engine and registry, buildah, Wine, qemu-user, Chromium).
//! `cargo xtask test` in the tool's repository starts the engine and registry once and
//! hands them over (see `common::engine`). The architecture test reads the sources only: it
//! runs in any `cargo test` of the tool, on every OS; the others drive Linux tools (an
//! engine, buildah, Wine, qemu-user) and build with the `self-test` feature, on Unix.
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the reason

mod architecture;

#[cfg(all(unix, feature = "self-test"))]
mod bad_inputs;
#[cfg(all(unix, feature = "self-test"))]
mod big_assets;
#[cfg(all(unix, feature = "self-test"))]
mod builtin;
#[cfg(all(unix, feature = "self-test"))]
mod check;
#[cfg(all(unix, feature = "self-test"))]
mod common;
#[cfg(all(unix, feature = "self-test"))]
mod compose;
#[cfg(all(unix, feature = "self-test"))]
mod contract;
#[cfg(all(unix, feature = "self-test"))]
mod cross_os;
#[cfg(all(unix, feature = "self-test"))]
mod dependencies;
#[cfg(all(unix, feature = "self-test"))]
mod desktop;
#[cfg(all(unix, feature = "self-test"))]
mod dev;
#[cfg(all(unix, feature = "self-test"))]
mod dist;
#[cfg(all(unix, feature = "self-test"))]
mod doctor;
#[cfg(all(unix, feature = "self-test"))]
mod downloads;
#[cfg(all(unix, feature = "self-test"))]
mod engine;
#[cfg(all(unix, feature = "self-test"))]
mod extension;
#[cfg(all(unix, feature = "self-test"))]
mod labels;
#[cfg(all(unix, feature = "self-test"))]
mod new;
#[cfg(all(unix, feature = "self-test"))]
mod prebuilt;
#[cfg(all(unix, feature = "self-test"))]
mod publish;
#[cfg(all(unix, feature = "self-test"))]
mod rebuilds;
#[cfg(all(unix, feature = "self-test"))]
mod setup;
#[cfg(all(unix, feature = "self-test"))]
mod windows;
#[cfg(all(unix, feature = "self-test"))]
mod workflows;
