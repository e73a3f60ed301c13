//! The tool's own test machinery: what its tests use from the machine, and a private Docker
//! engine and registry for them. Used by the tool's own suite (feature `self-test`) and its
//! integration tests, never by the layers above for an extension's work.

#[cfg(all(unix, feature = "self-test"))]
pub(crate) mod packages;
#[cfg(unix)]
pub(crate) mod services;
