//! The build context: staged beside its final place and renamed into it, owned by a marker
//! (dist replaces only what it wrote), binaries made reproducible.

pub(crate) mod ownership;
pub(crate) mod reproducible;
pub(crate) mod staging;
