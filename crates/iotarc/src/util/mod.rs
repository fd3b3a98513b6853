//! Helpers every layer may use: durable file operations, failpoint-aware I/O and a fast
//! hasher. Nothing here knows of segments, archives or inputs.

internal_mod!(files);
pub(crate) mod fsio;
pub(crate) mod hash;
