//! What the image is and how it is written and read: the spec (labels, layers, entrypoint)
//! and its Dockerfile, metadata.json, the builtin writer and the OCI reader.

pub(crate) mod attest;
pub(crate) mod builtin;
pub(crate) mod metadata;
pub(crate) mod oci;
pub(crate) mod spec;
