//! What the image is and how it is written and read: the spec (labels, layers, entrypoint)
//! and its Dockerfile, metadata.json, the builtin writer and the OCI reader.

pub mod builtin;
pub mod metadata;
pub mod oci;
pub mod spec;
