//! Helpers every layer may use: durable file operations, failpoint-aware I/O, a fast
//! hasher and heap trimming. Nothing here knows of segments, archives or inputs.

internal_mod!(files);
pub(crate) mod fsio;
pub(crate) mod hash;
pub(crate) mod heap;
