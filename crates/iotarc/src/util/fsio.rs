//! The write side of the library's filesystem access, with fault injection for crash
//! tests.
//!
//! Every operation that changes files on disk (creating or opening a file for writing,
//! writing, fsync, `set_len`, rename, removal, directory creation and directory fsync)
//! goes through this module; reads do not. Each such operation is an *injection point*:
//! it first asks the fault plan whether it is the operation to fail. Points are numbered
//! 1, 2, ... in the order the process reaches them.
//!
//! The plan is read once from the environment:
//!
//! - `IOTARC_FAULT=<n>:fail` — point `n` fails with `EIO` instead of running (a write
//!   first writes a torn prefix of its buffer, then fails with `ENOSPC`);
//!   every other point runs normally.
//! - `IOTARC_FAULT=<n>:crash` — at point `n` the process aborts, as `kill -9` would stop
//!   it: before the operation, or for a write after a torn prefix of its buffer.
//! - `IOTARC_FAULT_LOG=<file>` — appends one line `<n> <op> <path>` to `<file>` per
//!   point, so a test learns how many points a command passes through, and which.
//!
//! With neither variable set, a point costs one relaxed atomic load and a branch.
//! A point is a syscall-level operation (a buffered writer's flush, not a value added).

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

/// What an injection point does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Open,
    Write,
    SyncAll,
    SyncData,
    SetLen,
    Rename,
    Remove,
    RemoveDir,
    CreateDir,
    SyncDir,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Write => "write",
            Op::SyncAll => "sync_all",
            Op::SyncData => "sync_data",
            Op::SetLen => "set_len",
            Op::Rename => "rename",
            Op::Remove => "remove_file",
            Op::RemoveDir => "remove_dir",
            Op::CreateDir => "create_dir_all",
            Op::SyncDir => "sync_dir",
        })
    }
}

/// How the chosen point fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Fail,
    Crash,
}

/// The fault plan, parsed from the environment on first use.
struct Plan {
    /// 1-based number of the point to fault, with how (`None`: no fault).
    fault: Option<(u64, Mode)>,
    /// Where points are logged (`IOTARC_FAULT_LOG`).
    log: Option<Mutex<std::fs::File>>,
    /// Points reached so far.
    count: AtomicU64,
}

/// `UNKNOWN` until the plan is read, then `OFF` (no variable set: points do nothing) or
/// `ON`. Only this is loaded on the fast path.
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;
static PLAN: OnceLock<Plan> = OnceLock::new();

fn plan() -> &'static Plan {
    PLAN.get_or_init(|| {
        let fault = std::env::var("IOTARC_FAULT").ok().and_then(|v| {
            let parsed = v.split_once(':').and_then(|(n, m)| {
                let mode = match m {
                    "fail" => Mode::Fail,
                    "crash" => Mode::Crash,
                    _ => return None,
                };
                Some((n.parse::<u64>().ok().filter(|&n| n > 0)?, mode))
            });
            // A typo must not silently turn a fault trial into a clean run; it must not
            // stop an embedding program either: say so, and inject nothing.
            if parsed.is_none() {
                eprintln!(
                    "iotarc: ignoring IOTARC_FAULT={v:?}: expected <n>:fail or <n>:crash, n >= 1"
                );
            }
            parsed
        });
        let log = std::env::var_os("IOTARC_FAULT_LOG").and_then(|p| {
            match OpenOptions::new().create(true).append(true).open(&p) {
                Ok(f) => Some(Mutex::new(f)),
                Err(e) => {
                    eprintln!("iotarc: ignoring IOTARC_FAULT_LOG {p:?}: {e}");
                    None
                }
            }
        });
        let on = fault.is_some() || log.is_some();
        STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
        Plan {
            fault,
            log,
            count: AtomicU64::new(0),
        }
    })
}

/// Injection point: returns the mode if this operation is the one to fault.
#[inline]
fn point(op: Op, path: &dyn fmt::Debug) -> Option<Mode> {
    if STATE.load(Ordering::Relaxed) == OFF {
        return None;
    }
    point_slow(op, path)
}

#[cold]
fn point_slow(op: Op, path: &dyn fmt::Debug) -> Option<Mode> {
    let p = plan();
    if p.fault.is_none() && p.log.is_none() {
        return None;
    }
    let n = p.count.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(log) = &p.log {
        let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
        // Best effort: the log is for tests, and must not change what is tested.
        let _ = writeln!(f, "{n} {op} {path:?}");
    }
    match p.fault {
        Some((k, mode)) if k == n => {
            eprintln!("iotarc: injected {mode:?} at I/O point {n}: {op} {path:?}");
            Some(mode)
        }
        _ => None,
    }
}

/// The error a failed point returns, as the kernel would: `ENOSPC` for a write, `EIO`
/// otherwise (Linux numbers).
fn injected(op: Op) -> io::Error {
    const EIO: i32 = 5;
    const ENOSPC: i32 = 28;
    io::Error::from_raw_os_error(if op == Op::Write { ENOSPC } else { EIO })
}

/// Runs `f` unless this point faults: a `Fail` returns the injected error, a `Crash`
/// aborts before `f` runs.
#[inline]
fn guarded<T>(op: Op, path: &dyn fmt::Debug, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    match point(op, path) {
        None => f(),
        Some(Mode::Fail) => Err(injected(op)),
        Some(Mode::Crash) => std::process::abort(),
    }
}

/// A file opened for writing. Writes, syncs and `set_len` are injection points; reads go
/// through [`File::get_ref`].
#[derive(Debug)]
pub(crate) struct File {
    inner: std::fs::File,
    /// For the point log and the fault message.
    path: PathBuf,
}

impl File {
    /// Opens `path` with `opts` (an injection point).
    pub(crate) fn open(opts: &OpenOptions, path: &Path) -> io::Result<File> {
        guarded(Op::Open, &path, || opts.open(path)).map(|inner| File {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// The underlying file, for reads, metadata and locking.
    pub(crate) fn get_ref(&self) -> &std::fs::File {
        &self.inner
    }

    /// Unwraps the underlying file.
    pub(crate) fn into_inner(self) -> std::fs::File {
        self.inner
    }

    /// `fsync` (an injection point).
    pub(crate) fn sync_all(&self) -> io::Result<()> {
        guarded(Op::SyncAll, &self.path, || self.inner.sync_all())
    }

    /// `fdatasync` (an injection point).
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        guarded(Op::SyncData, &self.path, || self.inner.sync_data())
    }

    /// Truncates or extends the file to `len` bytes (an injection point).
    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        guarded(Op::SetLen, &self.path, || self.inner.set_len(len))
    }
}

impl Write for File {
    /// One `write` call (an injection point). A fault writes the first half of `buf`
    /// before it fails or aborts, as a disk that fills up or a crash mid-write would.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match point(Op::Write, &self.path) {
            None => self.inner.write(buf),
            Some(mode) => {
                let _ = self.inner.write_all(&buf[..buf.len() / 2]);
                match mode {
                    Mode::Fail => Err(injected(Op::Write)),
                    Mode::Crash => std::process::abort(),
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// `std::fs::rename` (an injection point).
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    guarded(Op::Rename, &to, || std::fs::rename(from, to))
}

/// `std::fs::remove_file` (an injection point).
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    guarded(Op::Remove, &path, || std::fs::remove_file(path))
}

/// `std::fs::remove_dir` (an injection point).
pub(crate) fn remove_dir(path: &Path) -> io::Result<()> {
    guarded(Op::RemoveDir, &path, || std::fs::remove_dir(path))
}

/// `std::fs::create_dir_all` (an injection point).
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    guarded(Op::CreateDir, &path, || std::fs::create_dir_all(path))
}

/// fsyncs the directory `dir` (one injection point for the open and the sync).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    guarded(Op::SyncDir, &dir, || std::fs::File::open(dir)?.sync_all())
}
