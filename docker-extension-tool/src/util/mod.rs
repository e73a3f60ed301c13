//! Utilities every layer may use: the one child-process type, content digests, file walks
//! and streams, and what commands print (steps, tables, problem reports), YAML with lines.

pub(crate) mod digest;
pub(crate) mod files;
pub(crate) mod process;
pub(crate) mod report;
pub(crate) mod time;
pub(crate) mod yaml;
