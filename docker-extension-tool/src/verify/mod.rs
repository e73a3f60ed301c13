//! Checks of a context or an image: labels, metadata.json, the files it names, binary headers,
//! the backend's compose file.

pub(crate) mod check;
pub(crate) mod compose;
pub(crate) mod rulebook;
