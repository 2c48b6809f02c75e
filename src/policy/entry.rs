//! One list entry: an exact ORI, a 2-character member code, or a pattern
//! (`?` = one character, a trailing `*` = the rest), and the compiled form
//! the lookup uses.

use std::fmt;

/// Number of distinct ORI characters (A–Z, 0–9).
pub const ALPHABET: usize = 36;
/// Length of an ORI.
pub const ORI_LEN: usize = 9;

/// Index of an ORI character in the 36-letter alphabet.
pub fn char_index(b: u8) -> Option<usize> {
    match b {
        b'A'..=b'Z' => Some((b - b'A') as usize),
        b'0'..=b'9' => Some(26 + (b - b'0') as usize),
        _ => None,
    }
}

/// Packs a 9-character ORI into a number (base 36), for hashing.
pub fn ori_key(ori: &[u8]) -> Option<u64> {
    if ori.len() != ORI_LEN {
        return None;
    }
    let mut k = 0u64;
    for &b in ori {
        k = k * ALPHABET as u64 + char_index(b)? as u64;
    }
    Some(k)
}

/// What kind of entry this is; also its rank (exact beats member beats pattern).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    /// Matches any ORI against a wildcard pattern.
    Pattern,
    /// Matches every ORI of a 2-character member (line) code.
    Member,
    /// Matches one ORI.
    Exact,
}

impl Kind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A parsed entry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The entry as written (upper-case).
    pub text: String,
    /// Its kind.
    pub kind: Kind,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.kind.name(), self.text)
    }
}

/// Why a list entry is not an ORI, a member code or a pattern; the text
/// says what to write instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Nothing but blanks.
    #[error("empty entry")]
    Empty,
    /// Lower-case letters (ORIs are upper-case).
    #[error("{text:?}: ORIs are upper-case (write {upper:?})")]
    LowerCase {
        /// The entry.
        text: String,
        /// The entry in upper case.
        upper: String,
    },
    /// A character that is not A-Z, 0-9, `?` or `*`.
    #[error("{text:?}: character {bad:?} is not allowed (ORIs use A-Z and 0-9; patterns add ? and a final *)")]
    Character {
        /// The entry.
        text: String,
        /// The first character not allowed.
        bad: char,
    },
    /// Neither 9 characters (an ORI) nor 2 (a member code).
    #[error(
        "{text:?} is {len} characters: an ORI has 9, a member code 2 (use ? or * for a pattern)"
    )]
    Length {
        /// The entry.
        text: String,
        /// Its length.
        len: usize,
    },
    /// A `*` before the end.
    #[error("{0:?}: '*' may only end a pattern")]
    StarInside(String),
    /// A pattern longer than an ORI.
    #[error("{0:?}: a pattern covers at most 9 characters")]
    PatternTooLong(String),
    /// A pattern without `*` that is not 9 characters.
    #[error("{text:?} is {len} characters: a pattern without a final '*' must have 9")]
    PatternLength {
        /// The entry.
        text: String,
        /// Its length.
        len: usize,
    },
}

impl Entry {
    /// Parses an entry; the error says what is wrong for an operator.
    pub fn parse(s: &str) -> Result<Entry, EntryError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(EntryError::Empty);
        }
        if t.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(EntryError::LowerCase {
                text: t.into(),
                upper: t.to_ascii_uppercase(),
            });
        }
        let wild = t.bytes().any(|b| b == b'?' || b == b'*');
        if let Some(bad) = t
            .bytes()
            .find(|&b| char_index(b).is_none() && b != b'?' && b != b'*')
        {
            return Err(EntryError::Character {
                text: t.into(),
                bad: bad as char,
            });
        }
        if !wild {
            return match t.len() {
                ORI_LEN => Ok(Entry {
                    text: t.into(),
                    kind: Kind::Exact,
                }),
                2 => Ok(Entry {
                    text: t.into(),
                    kind: Kind::Member,
                }),
                n => Err(EntryError::Length {
                    text: t.into(),
                    len: n,
                }),
            };
        }
        if let Some(i) = t.find('*') {
            if i != t.len() - 1 {
                return Err(EntryError::StarInside(t.into()));
            }
            if t.len() > ORI_LEN {
                return Err(EntryError::PatternTooLong(t.into()));
            }
        } else if t.len() != ORI_LEN {
            return Err(EntryError::PatternLength {
                text: t.into(),
                len: t.len(),
            });
        }
        Ok(Entry {
            text: t.into(),
            kind: Kind::Pattern,
        })
    }

    /// Number of literal characters before the first wildcard.
    pub fn literal_prefix(&self) -> usize {
        self.text
            .bytes()
            .take_while(|&b| b != b'?' && b != b'*')
            .count()
    }

    /// True when this entry matches `ori` (any length; member codes match
    /// ORIs whose first two characters are the code, and the code itself).
    pub fn matches(&self, ori: &[u8]) -> bool {
        let t = self.text.as_bytes();
        match self.kind {
            Kind::Exact => t == ori,
            Kind::Member => ori.len() >= 2 && &ori[..2] == t,
            Kind::Pattern => {
                let star = t.last() == Some(&b'*');
                let fixed = if star { &t[..t.len() - 1] } else { t };
                if star {
                    if ori.len() < fixed.len() {
                        return false;
                    }
                } else if ori.len() != fixed.len() {
                    return false;
                }
                fixed.iter().zip(ori).all(|(&p, &c)| p == b'?' || p == c)
            }
        }
    }

    /// True when this pattern matches every possible ORI.
    pub fn matches_everything(&self) -> bool {
        self.kind == Kind::Pattern
            && self.literal_prefix() == 0
            && self.text.bytes().all(|b| b == b'?' || b == b'*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(Entry::parse("VTICE0900").unwrap().kind, Kind::Exact);
        assert_eq!(Entry::parse(" AX ").unwrap().kind, Kind::Member);
        assert_eq!(Entry::parse("??ICE????").unwrap().kind, Kind::Pattern);
        assert_eq!(Entry::parse("VTICE*").unwrap().kind, Kind::Pattern);
        assert!(Entry::parse("vtice0900")
            .unwrap_err()
            .to_string()
            .contains("upper-case"));
        assert!(Entry::parse("VTICE090")
            .unwrap_err()
            .to_string()
            .contains("8 characters"));
        assert!(Entry::parse("VT-CE0900")
            .unwrap_err()
            .to_string()
            .contains("'-'"));
        assert!(Entry::parse("V*ICE")
            .unwrap_err()
            .to_string()
            .contains("only end"));
        assert!(Entry::parse("??ICE??")
            .unwrap_err()
            .to_string()
            .contains("must have 9"));
        assert!(Entry::parse("").is_err());
        assert!(Entry::parse("A").is_err());
    }

    #[test]
    fn matching() {
        let e = Entry::parse("??ICE????").unwrap();
        assert!(e.matches(b"VTICE0900") && e.matches(b"TXICE1234"));
        assert!(!e.matches(b"VTDEA0900") && !e.matches(b"VT"));
        let e = Entry::parse("VTICE*").unwrap();
        assert!(e.matches(b"VTICE0900") && !e.matches(b"VTIC") && !e.matches(b"TXICE0900"));
        let e = Entry::parse("AX").unwrap();
        assert!(e.matches(b"AXADMHELP") && e.matches(b"AX") && !e.matches(b"AZNLETS20"));
        assert!(Entry::parse("*").unwrap().matches_everything());
        assert!(Entry::parse("?????????").unwrap().matches_everything());
        assert!(!Entry::parse("??ICE????").unwrap().matches_everything());
        assert_eq!(Entry::parse("VTI??????").unwrap().literal_prefix(), 3);
        assert_eq!(ori_key(b"AAAAAAAAA"), Some(0));
        assert!(ori_key(b"AAAAAAAA").is_none());
        assert_ne!(ori_key(b"VTICE0900"), ori_key(b"VTICE0901"));
    }
}
