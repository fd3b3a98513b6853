//! Loading input files into an archive: the library side of `iotarc pack`.
//!
//! Each input is read in chunks of whole lines, chunks are parsed in parallel (rayon),
//! and the rows are fed in input order to a [`Packer`]. A bad row is reported with its
//! file and line; [`OnError`] decides whether it stops the run (nothing is published) or
//! is skipped and counted.

use crate::archive::packer::{Origin, PackOptions, PackStats, PackValue, Packer};
use crate::error::{Error, ErrorKind, Result};
use crate::input::{open_input, Batch, Chunker, LongLine, ParseOptions, Parser, Row, Val};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// What to do with a row that cannot be parsed or stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first bad row; publish nothing.
    Fail,
    /// Skip bad rows, report each to the reject sink, and count them.
    Skip,
}

/// Settings of [`run`].
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How to parse the inputs.
    pub parse: ParseOptions,
    /// How to pack. Its [`PackOptions::memory_limit`] bounds the whole run: the packer's
    /// buffers and the input chunks read and parsed ahead are sized from it.
    ///
    /// ```
    /// use iotarc::archive::PackOptions;
    /// use iotarc::pack::{OnError, RunOptions};
    /// let opts = RunOptions {
    ///     parse: Default::default(),
    ///     pack: PackOptions { memory_limit: 256 << 20, ..PackOptions::default() },
    ///     on_error: OnError::Fail,
    /// };
    /// # let _ = opts;
    /// ```
    pub pack: PackOptions,
    /// Bad-row policy.
    pub on_error: OnError,
}

/// Counts of a finished [`run`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunReport {
    /// Input files read.
    pub inputs: usize,
    /// Bytes read from the inputs (after decompression).
    pub bytes_in: u64,
    /// Data lines read (comment and blank lines excluded).
    pub lines: u64,
    /// Values parsed (a wide line holds several), missing cells not included.
    pub values: u64,
    /// Cells that were empty, `NA` or `null`: missing values, stored as absent (never as
    /// a zero), counted so that read = written + rejected + duplicates adds up.
    pub missing: u64,
    /// Rejected lines and values, in total.
    pub rejected: u64,
    /// Packer counts (values written, duplicates, segments, bytes).
    pub pack: PackStats,
    /// Wall time.
    pub elapsed: Duration,
}

/// A rejected row as given to the reject sink: input path, line, reason, line text.
pub struct Reject<'a> {
    /// Input path as given.
    pub input: &'a str,
    /// 1-based line number.
    pub line: u64,
    /// Why the row was refused.
    pub reason: &'a str,
    /// The line's text, when known.
    pub text: Option<&'a str>,
}

/// Chunks in flight (being read, parsed, or waiting to be packed). Each holds a chunk
/// buffer and a parsed batch; both are recycled by the packer thread, so memory is
/// bounded and the buffers are allocated (and page-faulted in) only once. One per parsing
/// thread plus a few for the reader and packer to work ahead (on 2 cores, 6 slots pack as
/// fast as 14).
fn chunks_in_flight() -> usize {
    rayon::current_num_threads().max(1) + 4
}

/// Bytes a slot holds per byte of its chunk: the chunk itself and its parsed rows (40
/// bytes each; a wide CSV line of ~90 bytes gives ~10 rows, measured 5.2 bytes of rows
/// per input byte).
const SLOT_BYTES_PER_INPUT_BYTE: usize = 7;

/// The chunk size that keeps the chunks in flight within the input share of the memory
/// budget: at most the default 4 MiB, at least 64 KiB.
fn chunk_size(input_bytes: usize, slots: usize) -> usize {
    (input_bytes / slots.max(1) / SLOT_BYTES_PER_INPUT_BYTE)
        .clamp(64 << 10, crate::input::DEFAULT_CHUNK_SIZE)
}

/// A read chunk and its parsed batch, passed reader -> parser -> packer -> reader.
#[derive(Default)]
struct Slot {
    /// Input index.
    input: u32,
    /// Position in the whole run, so the packer can restore input order.
    seq: u64,
    bytes: Vec<u8>,
    batch: Batch,
    /// Lines longer than the chunker's limit, skipped before `bytes` (with
    /// [`OnError::Skip`]).
    long_lines: Vec<LongLine>,
}

fn bad_row(input: &str, line: u64, reason: &str) -> Error {
    Error::new(ErrorKind::InvalidInput {
        what: format!("{input}:{line}: {reason}"),
        line: Some(line),
    })
}

/// An error reading or parsing `input`: `input:line: reason` when it is about a line,
/// else the error with the path attached.
fn input_error(input: &str, e: Error) -> Error {
    match e.kind() {
        ErrorKind::InvalidInput {
            what,
            line: Some(l),
        } => bad_row(input, *l, what),
        _ => e.with_path(input),
    }
}

/// Loads `inputs` into the archive at `archive` (created if missing) and publishes them
/// in one manifest commit. `on_reject` sees every skipped row (with [`OnError::Skip`]);
/// `on_progress` is called with the input bytes consumed so far.
///
/// # Errors
/// With [`OnError::Fail`], the first bad row as [`ErrorKind::InvalidInput`] with
/// `path:line: reason`; I/O errors; a locked or corrupt archive; a memory limit below
/// [`MIN_MEMORY_LIMIT`](crate::archive::MIN_MEMORY_LIMIT). On error nothing is
/// published and every file written by this run is removed.
pub fn run(
    archive: &Path,
    inputs: &[String],
    opts: &RunOptions,
    on_reject: impl FnMut(&Reject) -> Result<()> + Send,
    mut on_progress: impl FnMut(u64),
) -> Result<RunReport> {
    let start = Instant::now();
    let packer = Packer::open(archive, opts.pack.clone())?;
    let mut report = RunReport::default();
    // Three stages overlap: this thread reads chunks into recycled buffers, rayon parses
    // them in parallel, and a packer thread pushes the parsed batches in input order and
    // returns the buffers. The number of buffers bounds the memory in flight.
    let (work_tx, work_rx) = std::sync::mpsc::channel::<Slot>();
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Slot>();
    let on_error = opts.on_error;
    let (consumer_result, producer_result) = std::thread::scope(|s| {
        let consumer =
            s.spawn(move || consume(packer, work_rx, free_tx, inputs, on_error, on_reject));
        let produced = produce(
            inputs,
            opts,
            work_tx,
            &free_rx,
            &mut report,
            &mut on_progress,
        );
        drop(free_rx);
        (consumer.join(), produced)
    });
    let (packer, counts) = match consumer_result {
        Ok(r) => r?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    // A producer error (I/O, unreadable input) wins only if the consumer did not fail
    // first; dropping the packer removes what it wrote.
    producer_result?;
    report.lines = counts.lines;
    report.values = counts.values;
    report.missing = counts.missing;
    report.rejected = counts.rejected;
    report.pack = packer.commit(report.bytes_in)?;
    report.elapsed = start.elapsed();
    Ok(report)
}

#[derive(Default)]
struct Counts {
    lines: u64,
    values: u64,
    missing: u64,
    rejected: u64,
}

/// Reads every input into recycled buffers and parses them on the rayon pool, sending
/// each parsed slot to the packer thread. Stops early (without error) if the packer thread
/// has hung up, which it does when it fails.
fn produce(
    inputs: &[String],
    opts: &RunOptions,
    work_tx: Sender<Slot>,
    free_rx: &Receiver<Slot>,
    report: &mut RunReport,
    on_progress: &mut impl FnMut(u64),
) -> Result<()> {
    let max_slots = chunks_in_flight();
    let chunk = chunk_size(opts.pack.budget().input_bytes, max_slots);
    let mut slots = 0;
    let mut seq = 0u64;
    // A slot taken from the pool but not needed at the end of an input, for the next one.
    let mut spare: Option<Slot> = None;
    for (ii, input) in inputs.iter().enumerate() {
        let reader = open_input(input)?;
        let mut chunker =
            Chunker::with_chunk_size(reader, chunk).skip_long_lines(opts.on_error == OnError::Skip);
        let path_hint = if input == "-" {
            None
        } else {
            Some(input.as_str())
        };
        let parser = Parser::from_input(&opts.parse, path_hint, &mut chunker)
            .map_err(|e| input_error(input, e))?;
        report.inputs += 1;
        let parser = &parser;
        // Parse tasks borrow the parser; the scope ends only when all have finished.
        let done = rayon::in_place_scope(|scope| -> Result<bool> {
            loop {
                let mut slot = match spare.take().ok_or(()).or_else(|_| free_rx.try_recv()) {
                    Ok(slot) => slot,
                    Err(_) if slots < max_slots => {
                        slots += 1;
                        Slot::default()
                    }
                    Err(_) => match free_rx.recv() {
                        Ok(slot) => slot,
                        // The packer thread has stopped (it failed): stop reading.
                        Err(_) => return Ok(false),
                    },
                };
                let next = chunker
                    .next_chunk_into(&mut slot.bytes)
                    .map_err(|e| input_error(input, e))?;
                slot.long_lines = chunker.take_long_lines();
                let first_line = match next {
                    Some(line) => line,
                    // Skipped overlong lines at the end: an empty chunk reports them.
                    None if !slot.long_lines.is_empty() => chunker.next_line(),
                    None => {
                        spare = Some(slot);
                        return Ok(true);
                    }
                };
                report.bytes_in += slot.bytes.len() as u64;
                slot.input = ii as u32;
                slot.seq = seq;
                seq += 1;
                let tx = work_tx.clone();
                scope.spawn(move |_| {
                    parser.parse_chunk_into(&slot.bytes, first_line, &mut slot.batch);
                    let _ = tx.send(slot);
                });
                on_progress(report.bytes_in);
            }
        })?;
        if !done {
            return Ok(());
        }
    }
    Ok(())
}

/// The packer thread: takes parsed slots in input order, applies the bad-row policy,
/// pushes rows, flushes when the buffer bound is reached, and returns each slot to the
/// reader.
fn consume(
    mut packer: Packer,
    work_rx: Receiver<Slot>,
    free_tx: Sender<Slot>,
    inputs: &[String],
    on_error: OnError,
    mut on_reject: impl FnMut(&Reject) -> Result<()>,
) -> Result<(Packer, Counts)> {
    let mut counts = Counts::default();
    let mut rejected_pack = 0u64;
    let mut next = 0u64;
    // Slots parsed ahead of the next one in input order.
    let mut waiting: BTreeMap<u64, Slot> = BTreeMap::new();
    for slot in work_rx {
        waiting.insert(slot.seq, slot);
        while let Some(slot) = waiting.remove(&next) {
            next += 1;
            let ii = slot.input;
            let input = inputs[ii as usize].as_str();
            let b = &slot.batch;
            counts.lines += b.lines;
            for l in &slot.long_lines {
                counts.lines += 1;
                counts.rejected += 1;
                let reason = l.reason();
                match on_error {
                    OnError::Fail => return Err(bad_row(input, l.line, &reason)),
                    OnError::Skip => on_reject(&Reject {
                        input,
                        line: l.line,
                        reason: &reason,
                        text: None,
                    })?,
                }
            }
            for e in &b.errors {
                counts.rejected += 1;
                match on_error {
                    OnError::Fail => return Err(bad_row(input, e.line, &e.reason)),
                    OnError::Skip => on_reject(&Reject {
                        input,
                        line: e.line,
                        reason: &e.reason,
                        text: Some(&e.text),
                    })?,
                }
            }
            push_batch(&mut packer, b, ii);
            let missing = b.rows.iter().filter(|r| r.value == Val::Missing).count() as u64;
            counts.values += b.rows.len() as u64 - missing;
            counts.missing += missing;
            // The reader may have finished: then the slot is simply dropped.
            let _ = free_tx.send(slot);
            if packer.should_flush() {
                packer.flush()?;
                rejected_pack +=
                    handle_pack_rejects(&mut packer, inputs, on_error, &mut on_reject)?;
            }
        }
    }
    packer.flush()?;
    rejected_pack += handle_pack_rejects(&mut packer, inputs, on_error, &mut on_reject)?;
    counts.rejected += rejected_pack;
    Ok((packer, counts))
}

fn handle_pack_rejects(
    packer: &mut Packer,
    inputs: &[String],
    on_error: OnError,
    on_reject: &mut impl FnMut(&Reject) -> Result<()>,
) -> Result<u64> {
    let rej = packer.take_rejected();
    for r in &rej {
        let input = inputs
            .get(r.origin.input as usize)
            .map_or("?", |s| s.as_str());
        match on_error {
            OnError::Fail => return Err(bad_row(input, r.origin.line, &r.reason)),
            OnError::Skip => on_reject(&Reject {
                input,
                line: r.origin.line,
                reason: &r.reason,
                text: None,
            })?,
        }
    }
    Ok(rej.len() as u64)
}

/// Pushes a parsed batch's rows. A missing cell only marks that its line's timestamp
/// has a row, so within a line (a run of rows with the same line, device and time) the
/// packer gets a missing marker only when no cell of the line has a value, and then one:
/// the pivoted table is the same, and the buffers (a wide CSV line often has several
/// empty cells) hold only what it needs.
fn push_batch(packer: &mut Packer, b: &Batch, input: u32) {
    let devs: Vec<u32> = b.devices.iter().map(|d| packer.device_id(d)).collect();
    let chans: Vec<u32> = b.channels.iter().map(|c| packer.channel_id(c)).collect();
    let same_line = |x: &Row, y: &Row| x.line == y.line && x.device == y.device && x.ts == y.ts;
    let mut run_start = 0;
    let mut run_has_value = false;
    for (i, r) in b.rows.iter().enumerate() {
        if i == 0 || !same_line(&b.rows[run_start], r) {
            run_start = i;
            let run = &b.rows[i..];
            let len = run
                .iter()
                .position(|x| !same_line(r, x))
                .unwrap_or(run.len());
            run_has_value = run[..len].iter().any(|x| x.value != Val::Missing);
        } else if r.value == Val::Missing && !run_has_value {
            // One marker for an all-missing line is enough.
            continue;
        }
        if r.value == Val::Missing && run_has_value {
            continue;
        }
        let v = match r.value {
            Val::Missing => PackValue::Missing,
            Val::F64(x) => PackValue::F64(x),
            Val::I64(x) => PackValue::I64(x),
            Val::Bool(x) => PackValue::Bool(x),
            Val::Str(i) => PackValue::Str(b.strings[i as usize].as_str().into()),
        };
        packer.push_ids(
            devs[r.device as usize],
            chans[r.channel as usize],
            r.ts,
            v,
            Origin {
                input,
                line: r.line,
            },
        );
    }
}
