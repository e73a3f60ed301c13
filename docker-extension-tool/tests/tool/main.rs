//! The tool's integration tests: one binary, one module per area (the real command run
//! against fixtures, a real Docker engine and registry, buildah, Wine, qemu-user, Chromium).
//! `cargo xtask test` in the tool's repository starts the engine and registry once and
//! hands them over (see `common::engine`).
#![cfg(unix)] // they drive Linux tools (an engine, buildah, Wine, qemu-user)
#![allow(clippy::unwrap_used)] // a test that unwraps fails with the reason

mod common;

mod architecture;
mod bad_inputs;
mod big_assets;
mod builtin;
mod check;
mod compose;
mod contract;
mod cross_os;
mod dependencies;
mod desktop;
mod dev;
mod dist;
mod doctor;
mod downloads;
mod engine;
mod extension;
mod labels;
mod new;
mod prebuilt;
mod publish;
mod rebuilds;
mod setup;
mod windows;
mod workflows;
