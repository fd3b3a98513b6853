//! Shell-style name patterns for `--device` and `--channel`: `*` matches any run of
//! characters, `?` one character, `[abc]`/`[a-z]`/`[!x]` a character class. Anything
//! else matches itself.

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pat: Vec<char>,
    literal: bool,
}

impl Glob {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pat: pattern.chars().collect(),
            literal: !pattern.contains(['*', '?', '[']),
        }
    }

    /// The pattern as text.
    pub fn as_str(&self) -> String {
        self.pat.iter().collect()
    }

    /// True if the pattern has no wildcard.
    pub fn is_literal(&self) -> bool {
        self.literal
    }

    /// True if `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        if self.literal {
            return self.pat.iter().copied().eq(name.chars());
        }
        let s: Vec<char> = name.chars().collect();
        // Iterative matcher with backtracking to the last `*` (linear in practice).
        let (mut p, mut i) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            if p < self.pat.len() {
                match self.pat[p] {
                    '*' => {
                        star = Some((p, i));
                        p += 1;
                        continue;
                    }
                    '?' => {
                        p += 1;
                        i += 1;
                        continue;
                    }
                    '[' => {
                        if let Some((ok, next)) = self.class(p, s[i]) {
                            if ok {
                                p = next;
                                i += 1;
                                continue;
                            }
                        } else if s[i] == '[' {
                            p += 1;
                            i += 1;
                            continue;
                        }
                    }
                    c if c == s[i] => {
                        p += 1;
                        i += 1;
                        continue;
                    }
                    _ => {}
                }
            }
            match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            }
        }
        self.pat[p..].iter().all(|&c| c == '*')
    }

    /// Matches `c` against the class starting at `p`; returns (matched, index after the
    /// class), or `None` if the `[` does not start a well-formed class.
    fn class(&self, p: usize, c: char) -> Option<(bool, usize)> {
        let mut j = p + 1;
        let negate = matches!(self.pat.get(j), Some('!') | Some('^'));
        if negate {
            j += 1;
        }
        let mut matched = false;
        let mut first = true;
        while let Some(&pc) = self.pat.get(j) {
            if pc == ']' && !first {
                return Some((matched != negate, j + 1));
            }
            first = false;
            if self.pat.get(j + 1) == Some(&'-') && self.pat.get(j + 2).is_some_and(|&e| e != ']') {
                let hi = self.pat[j + 2];
                matched |= pc <= c && c <= hi;
                j += 3;
            } else {
                matched |= pc == c;
                j += 1;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let m = |p: &str, s: &str| Glob::new(p).matches(s);
        assert!(m("sensor-*", "sensor-0001"));
        assert!(!m("sensor-*", "sensors"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("s?n", "sun"));
        assert!(m("dev[0-3]", "dev2"));
        assert!(!m("dev[!0-3]", "dev2"));
        assert!(m("PM2.5", "PM2.5"));
        assert!(!m("PM2.5", "PM2x5"));
        assert!(m("a[", "a["));
        assert!(m("*.temp", "floor1.temp"));
    }
}
