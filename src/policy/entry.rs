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

impl Entry {
    /// Parses an entry; the error says what is wrong for an operator.
    pub fn parse(s: &str) -> Result<Entry, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("empty entry".into());
        }
        if t.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(format!(
                "{t:?}: ORIs are upper-case (write {:?})",
                t.to_ascii_uppercase()
            ));
        }
        let wild = t.bytes().any(|b| b == b'?' || b == b'*');
        if let Some(bad) = t
            .bytes()
            .find(|&b| char_index(b).is_none() && b != b'?' && b != b'*')
        {
            return Err(format!(
                "{t:?}: character {:?} is not allowed (ORIs use A-Z and 0-9; patterns add ? and a final *)",
                bad as char
            ));
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
                n => Err(format!(
                    "{t:?} is {n} characters: an ORI has 9, a member code 2 (use ? or * for a pattern)"
                )),
            };
        }
        if let Some(i) = t.find('*') {
            if i != t.len() - 1 {
                return Err(format!("{t:?}: '*' may only end a pattern"));
            }
            if t.len() > ORI_LEN {
                return Err(format!("{t:?}: a pattern covers at most 9 characters"));
            }
        } else if t.len() != ORI_LEN {
            return Err(format!(
                "{t:?} is {} characters: a pattern without a final '*' must have 9",
                t.len()
            ));
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
            .contains("upper-case"));
        assert!(Entry::parse("VTICE090")
            .unwrap_err()
            .contains("8 characters"));
        assert!(Entry::parse("VT-CE0900").unwrap_err().contains("'-'"));
        assert!(Entry::parse("V*ICE").unwrap_err().contains("only end"));
        assert!(Entry::parse("??ICE??").unwrap_err().contains("must have 9"));
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
