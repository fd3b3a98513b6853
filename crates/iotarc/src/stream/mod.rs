//! Live ingestion: a write-ahead log, per-device buffers sealed into segments when their
//! time window closes, deduplication and compaction. See [`StreamWriter`].

pub mod latency;
mod sealer;
pub mod writer;

pub use crate::wal::batch::PointBatch;
pub use latency::LatencyHist;
pub use writer::{OpenReport, StreamOptions, StreamStats, StreamWriter, SyncPolicy, WriteAck};
