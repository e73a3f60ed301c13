//! Utilities every layer may use: the one child-process type, file walks and streams, and
//! what commands print (steps, tables, problem reports).

pub mod files;
pub mod process;
pub mod report;
pub mod time;
