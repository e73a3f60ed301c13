//! The model of an extension image, as plain types and rules: targets and image variants,
//! binary headers, the naming rules of Docker, Cargo and the Marketplace.

pub mod binary;
pub mod engine;
pub mod reference;
pub mod rules;
pub mod targets;
