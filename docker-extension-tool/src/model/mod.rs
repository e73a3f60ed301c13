//! The model of an extension image, as plain types and rules: targets and image variants,
//! binary headers, the naming rules of Docker, Cargo and the Marketplace.

pub(crate) mod binary;
pub(crate) mod engine;
pub(crate) mod reference;
pub(crate) mod rules;
pub(crate) mod targets;
