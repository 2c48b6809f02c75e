//! Small inline ASCII strings for header values (message keys, ORIs,
//! control fields), so parsing a header allocates nothing.

use std::fmt;

/// An ASCII string of at most `N` bytes stored inline. Header values are
/// short by definition (an ORI is 9 characters), so a fixed array avoids a
/// heap allocation per message on the hot path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tiny<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> Tiny<N> {
    /// The empty string.
    pub const EMPTY: Self = Tiny {
        len: 0,
        buf: [0; N],
    };

    /// Copies `s` if it is printable ASCII and at most `N` bytes.
    pub fn new(s: &[u8]) -> Option<Self> {
        if s.len() > N || s.len() > u8::MAX as usize || !s.iter().all(|b| (0x20..0x7f).contains(b))
        {
            return None;
        }
        let mut buf = [0; N];
        buf[..s.len()].copy_from_slice(s);
        Some(Tiny {
            len: s.len() as u8,
            buf,
        })
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The text (always valid: only printable ASCII is stored).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for Tiny<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> fmt::Debug for Tiny<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for Tiny<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> serde::Serialize for Tiny<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_ascii() {
        assert_eq!(Tiny::<9>::new(b"VTICE0900").unwrap().as_str(), "VTICE0900");
        assert!(Tiny::<9>::new(b"VTICE09000").is_none());
        assert!(Tiny::<9>::new(b"A\x07").is_none());
        assert!(Tiny::<9>::new("É".as_bytes()).is_none());
        assert!(Tiny::<4>::EMPTY.is_empty());
    }
}
