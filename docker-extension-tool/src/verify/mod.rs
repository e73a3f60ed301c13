//! Checks of a context or an image: labels, metadata.json, the files it names, binary headers.

pub(crate) mod check;
