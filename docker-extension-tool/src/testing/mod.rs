//! The tool's own test machinery: a private Docker engine and registry for its tests.

#[cfg(unix)]
pub mod services;
