//! The file layer: segment files made of a header, blocks, a footer and a trailer. One
//! module per on-disk structure, each with its writer and reader side by side.

pub mod block;
pub mod chunkref;
pub mod footer;
pub mod header;
pub mod reader;
pub mod stats;
pub mod writer;
