//! String dictionaries, so parsed rows carry `u32` ids instead of one `String` each.

use crate::util::hash::FxHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// `a == b`, without a `memcmp` call for the short keys compared here: two overlapping
/// word loads cover any length from 4 to 32 bytes.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    macro_rules! words {
        ($t:ty, $w:expr) => {{
            let r = |s: &[u8], i: usize| <$t>::from_le_bytes(s[i..i + $w].try_into().unwrap());
            r(a, 0) == r(b, 0) && r(a, n - $w) == r(b, n - $w)
        }};
    }
    match n {
        0..=3 => a == b,
        4..=7 => words!(u32, 4),
        8..=15 => words!(u64, 8),
        16..=32 => words!(u128, 16),
        _ => a == b,
    }
}

/// A dictionary of names: each distinct name gets the next `u32` id, in first-seen order.
///
/// Looking up a name allocates nothing; only a new name is copied. The name interned last
/// is checked first, so runs of rows from one device cost a byte comparison each.
///
/// # Example
/// ```
/// use iotarc::input::Interner;
/// let mut d = Interner::new();
/// assert_eq!(d.intern(b"sensor-1"), Ok(0));
/// assert_eq!(d.intern(b"sensor-2"), Ok(1));
/// assert_eq!(d.intern(b"sensor-1"), Ok(0));
/// assert_eq!(d.names(), ["sensor-1", "sensor-2"]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Interner {
    map: HashMap<Box<[u8]>, u32, BuildHasherDefault<FxHasher>>,
    names: Vec<String>,
    last: u32,
}

impl Interner {
    /// An empty dictionary.
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The id of `name`, adding it if new.
    ///
    /// # Errors
    /// `name` is new and not valid UTF-8 (names already present were validated when added).
    #[inline]
    pub fn intern(&mut self, name: &[u8]) -> Result<u32, std::str::Utf8Error> {
        // Rows come in runs (one device's channels) and cycles (channels in a fixed
        // order, devices one after the other): try the last id and the one after it
        // before hashing.
        let n = self.names.len() as u32;
        if self.last < n {
            let last = self.last;
            if same(self.names[last as usize].as_bytes(), name) {
                return Ok(last);
            }
            let next = if last + 1 == n { 0 } else { last + 1 };
            if same(self.names[next as usize].as_bytes(), name) {
                self.last = next;
                return Ok(next);
            }
        }
        let id = match self.map.get(name) {
            Some(&id) => id,
            None => self.insert(name)?,
        };
        self.last = id;
        Ok(id)
    }

    #[cold]
    fn insert(&mut self, name: &[u8]) -> Result<u32, std::str::Utf8Error> {
        let s = std::str::from_utf8(name)?;
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names");
        self.names.push(s.to_owned());
        self.map.insert(name.into(), id);
        Ok(id)
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True if no name was interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name with id `id`, if any.
    pub fn get(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    /// All names, indexed by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Forgets every name with an id `>= len` (used to undo a rejected line).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.names.len() {
            return;
        }
        for name in self.names.drain(len..) {
            self.map.remove(name.as_bytes());
        }
        self.last = 0;
    }

    /// The names, indexed by id.
    pub fn into_names(self) -> Vec<String> {
        self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_forgets() {
        let mut d = Interner::new();
        for n in ["a", "b", "c", "d"] {
            d.intern(n.as_bytes()).unwrap();
        }
        d.truncate(2);
        assert_eq!(d.names(), ["a", "b"]);
        assert_eq!(d.intern(b"d"), Ok(2));
        assert_eq!(d.intern(b"b"), Ok(1));
        assert!(d.intern(b"\xff").is_err());
        assert_eq!(d.len(), 3);
        assert_eq!(d.get(2), Some("d"));
    }

    #[test]
    fn same_bytes() {
        let text: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=40 {
            let a = &text[..n];
            let copy = a.to_vec();
            assert!(same(a, &copy));
            for k in 0..n {
                let mut b = a.to_vec();
                b[k] ^= 1;
                assert!(!same(a, &b), "{n} {k}");
            }
            assert!(!same(a, &text[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn cycles_and_runs() {
        let mut d = Interner::new();
        let names = ["d0", "d1", "d2"];
        for round in 0..3 {
            for (i, n) in names.iter().enumerate() {
                for _ in 0..=round {
                    assert_eq!(d.intern(n.as_bytes()), Ok(i as u32));
                }
            }
            assert_eq!(d.intern(b"d1"), Ok(1));
        }
        d.truncate(1);
        assert_eq!(d.intern(b"d2"), Ok(1));
        assert_eq!(d.intern(b"d0"), Ok(0));
    }

    #[test]
    fn many_names() {
        let mut d = Interner::new();
        for i in 0..10_000u32 {
            assert_eq!(d.intern(format!("n{i}").as_bytes()), Ok(i));
        }
        for i in (0..10_000u32).rev() {
            assert_eq!(d.intern(format!("n{i}").as_bytes()), Ok(i));
        }
    }
}
