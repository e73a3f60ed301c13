//! Utilities every layer may use: the one child-process type, file walks and streams, and
//! what commands print (steps, tables, problem reports), YAML with lines.

pub(crate) mod files;
pub(crate) mod process;
pub(crate) mod report;
pub(crate) mod time;
pub(crate) mod yaml;
