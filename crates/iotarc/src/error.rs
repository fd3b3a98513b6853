//! Error type shared by every layer of the library.
//!
//! Decoders never panic on hostile input: every check that can fail on bytes read from
//! disk produces an [`Error`] whose [`ErrorKind`] says what was wrong and where.

use std::fmt;
use std::path::PathBuf;

/// A rule of the normative specification in `format-spec/`, cited by the error that a
/// violation of it produces: `C1`..`C58` are the segment corruption rules of `format.md`
/// §13; the other letters are the rule families of `archive.md` (`M`, `L`) and `wal.md`
/// (`W`, `T`, `P`, `S`). Displayed as the specification writes it, e.g. `C30`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// A segment corruption rule, `format.md` §13.
    C(u8),
    /// A manifest validation rule, `archive.md` §2.4.
    M(u8),
    /// A leftover rule, `archive.md` §4.
    L(u8),
    /// A WAL writer durability rule, `wal.md`.
    W(u8),
    /// A WAL torn-tail rule, `wal.md`.
    T(u8),
    /// A WAL payload or replay rule, `wal.md`.
    P(u8),
    /// A WAL salvage rule, `wal.md`.
    S(u8),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (letter, n) = match *self {
            Rule::C(n) => ('C', n),
            Rule::M(n) => ('M', n),
            Rule::L(n) => ('L', n),
            Rule::W(n) => ('W', n),
            Rule::T(n) => ('T', n),
            Rule::P(n) => ('P', n),
            Rule::S(n) => ('S', n),
        };
        write!(f, "{letter}{n}")
    }
}

/// What went wrong. Match on this to decide how to react; the list may grow.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bytes that violate the format: a checksum mismatch, an out-of-range field, an
    /// impossible count. `what` names the field and the offending value; `offset` is the
    /// byte offset in the file (or in the chunk, for codec-level errors) when known.
    Corrupt {
        /// Which structure or field is wrong, and how.
        what: String,
        /// Byte offset of the structure in its container, when known.
        offset: Option<u64>,
        /// The specification rule the bytes break, when the check is tied to one.
        rule: Option<Rule>,
    },
    /// The input ended before a structure was complete.
    Truncated {
        /// Which structure was being read.
        what: String,
        /// Bytes needed to continue.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The file was written by a newer format version than this reader supports.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Newest version this reader supports.
        supported: u16,
    },
    /// The file uses a required feature this reader does not know.
    UnsupportedFeature(String),
    /// Caller input rejected before anything was written (e.g. unsorted timestamps,
    /// mismatched column lengths). `line` is set when the input came from a text file.
    InvalidInput {
        /// What is wrong with the input.
        what: String,
        /// 1-based line number in the source file, when known.
        line: Option<u64>,
    },
    /// An operating-system I/O error.
    Io(std::io::Error),
}

/// The error type of the `iotarc` crate: an [`ErrorKind`] plus optional context
/// (file path, block index) added as the error travels up through the layers.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    block: Option<usize>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an error of the given kind with no context.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            path: None,
            block: None,
        }
    }

    /// A [`ErrorKind::Corrupt`] error that cites no rule.
    pub fn corrupt(what: impl Into<String>, offset: Option<u64>) -> Self {
        Error::new(ErrorKind::Corrupt {
            what: what.into(),
            offset,
            rule: None,
        })
    }

    /// A [`ErrorKind::Corrupt`] error for bytes that break `rule`. The message need not
    /// name the rule: [`Display`](fmt::Display) prints it after the message.
    pub fn corrupt_rule(rule: Rule, what: impl Into<String>, offset: Option<u64>) -> Self {
        Error::new(ErrorKind::Corrupt {
            what: what.into(),
            offset,
            rule: Some(rule),
        })
    }

    /// The rule a [`ErrorKind::Corrupt`] error cites, if any.
    pub fn rule(&self) -> Option<Rule> {
        match &self.kind {
            ErrorKind::Corrupt { rule, .. } => *rule,
            _ => None,
        }
    }

    /// Makes a [`ErrorKind::Corrupt`] error without a rule cite `rule`; other errors,
    /// and one that cites a rule already, are returned unchanged. For generic checks
    /// (a cursor's "bytes left over") whose rule depends on the structure being read.
    pub(crate) fn or_rule(mut self, r: Rule) -> Self {
        if let ErrorKind::Corrupt {
            rule: rule @ None, ..
        } = &mut self.kind
        {
            *rule = Some(r);
        }
        self
    }

    /// A [`ErrorKind::Truncated`] error.
    pub fn truncated(what: impl Into<String>, needed: u64, available: u64) -> Self {
        Error::new(ErrorKind::Truncated {
            what: what.into(),
            needed,
            available,
        })
    }

    /// A [`ErrorKind::InvalidInput`] error without a line number.
    pub fn invalid_input(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput {
            what: what.into(),
            line: None,
        })
    }

    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file the error relates to, if known.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// The index of the block the error relates to, if known.
    pub fn block(&self) -> Option<usize> {
        self.block
    }

    /// True for errors caused by bad bytes (corrupt, truncated), as opposed to I/O,
    /// version or caller errors.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Corrupt { .. } | ErrorKind::Truncated { .. }
        )
    }

    /// Attaches the file path, keeping an existing one.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }

    /// Attaches the block index, keeping an existing one.
    pub fn with_block(mut self, block: usize) -> Self {
        if self.block.is_none() {
            self.block = Some(block);
        }
        self
    }

    /// Adds `base` to a known offset: codecs report offsets within their chunk, and the
    /// file layer rebases them to file offsets.
    pub(crate) fn rebase(mut self, base: u64) -> Self {
        if let ErrorKind::Corrupt {
            offset: Some(o), ..
        } = &mut self.kind
        {
            *o = o.saturating_add(base);
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        if let Some(b) = self.block {
            write!(f, "block {b}: ")?;
        }
        match &self.kind {
            ErrorKind::Corrupt { what, offset, rule } => {
                write!(f, "corrupt: {what}")?;
                if let Some(r) = rule {
                    write!(f, " ({r})")?;
                }
                if let Some(o) = offset {
                    write!(f, " (at byte {o})")?;
                }
                Ok(())
            }
            ErrorKind::Truncated {
                what,
                needed,
                available,
            } => {
                write!(
                    f,
                    "truncated: {what} needs {needed} bytes, {available} available"
                )
            }
            ErrorKind::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported format version {found} (this reader supports up to {supported})"
            ),
            ErrorKind::UnsupportedFeature(s) => write!(f, "unsupported feature: {s}"),
            ErrorKind::InvalidInput {
                what,
                line: Some(l),
            } => write!(f, "line {l}: {what}"),
            ErrorKind::InvalidInput { what, line: None } => write!(f, "invalid input: {what}"),
            ErrorKind::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    /// The cause after the ones [`Display`](fmt::Display) already prints. Display
    /// includes the text of an [`ErrorKind::Io`] error, so the source is that error's own
    /// source, not the error itself: an error chain (anyhow's `{:#}`, for one) then names
    /// each cause once. The I/O error itself is available from [`Error::kind`].
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => e.source(),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message of `e` and its sources joined as error-chain printers do (anyhow's
    /// `{:#}`).
    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            out.push_str(&format!(": {c}"));
            cur = c.source();
        }
        out
    }

    #[test]
    fn a_rule_is_printed_once_after_the_message() {
        let e = Error::corrupt_rule(Rule::C(30), "blocks overlap", Some(7));
        assert_eq!(e.to_string(), "corrupt: blocks overlap (C30) (at byte 7)");
        assert_eq!(e.rule(), Some(Rule::C(30)));
        let e = e.or_rule(Rule::C(1));
        assert_eq!(e.rule(), Some(Rule::C(30)));
        let e = Error::corrupt("x", None).or_rule(Rule::C(37));
        assert_eq!(e.to_string(), "corrupt: x (C37)");
        assert_eq!(Rule::M(4).to_string(), "M4");
        assert_eq!(Error::invalid_input("x").rule(), None);
    }

    #[test]
    fn an_io_error_is_named_once_in_the_chain() {
        let e = Error::from(std::io::Error::from_raw_os_error(28)).with_path("/arch/seg/x.seg");
        let text = chain(&e);
        assert_eq!(text.matches("os error 28").count(), 1, "{text}");
        assert!(text.starts_with("/arch/seg/x.seg: I/O error: "), "{text}");
        // A custom I/O error's own cause is still reached, once.
        let inner = Error::invalid_input("inner cause");
        let e = Error::from(std::io::Error::other(inner));
        let text = chain(&e);
        assert_eq!(text.matches("inner cause").count(), 1, "{text}");
        assert!(matches!(e.kind(), ErrorKind::Io(_)));
    }
}
