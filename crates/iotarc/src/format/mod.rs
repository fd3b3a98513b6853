//! The file layer: segment files made of a header, blocks, a footer and a trailer. One
//! module per on-disk structure, each with its writer and reader side by side.

internal_mod!(block);
internal_mod!(chunkref);
internal_mod!(footer);
internal_mod!(header);
internal_mod!(reader);
internal_mod!(stats);
internal_mod!(writer);
