//! iotarc: a columnar archive format for IoT sensor time series.
#![warn(missing_docs)]

pub mod codec;
pub mod error;

pub use error::{Error, ErrorKind, Result};
