//! The names of enum values, spelled once.
//!
//! A leaf of the crate: it imports nothing from it, so every layer may use
//! it (`framing`, `message`, the runtime's configuration, the report). The
//! names are the ones strum derives from the variants; [`parse_name`] is the
//! one reader of them, and [`UnknownName`] the one error when a name is not
//! one of them.

use std::fmt;

/// A name that is not one of an enum's names: which setting, what was given,
/// and what is accepted, so an operator can correct the file or the flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being named (`"framing"`, `"direction"`, `"dial mode"`, …).
    pub what: &'static str,
    /// The text that was given.
    pub given: String,
    /// The names accepted, in declaration order.
    pub expected: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} (expected {})",
            self.what,
            self.given,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

/// Parses one of an enum's names (the names strum derives from the variants,
/// so they are spelled once); the error lists the names accepted.
pub fn parse_name<E>(s: &str, what: &'static str) -> Result<E, UnknownName>
where
    E: strum::IntoEnumIterator + Copy + Into<&'static str>,
{
    E::iter()
        .find(|v| Into::<&'static str>::into(*v) == s)
        .ok_or_else(|| UnknownName {
            what,
            given: s.to_string(),
            expected: E::iter().map(Into::into).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, strum::IntoStaticStr, strum::EnumIter)]
    #[strum(serialize_all = "snake_case")]
    enum Colour {
        Red,
        DeepBlue,
    }

    #[test]
    fn reads_the_derived_names_and_lists_them_when_wrong() {
        assert_eq!(
            parse_name::<Colour>("deep_blue", "colour"),
            Ok(Colour::DeepBlue)
        );
        let e = parse_name::<Colour>("green", "colour").unwrap_err();
        assert_eq!(e.expected, vec!["red", "deep_blue"]);
        assert_eq!(
            e.to_string(),
            "unknown colour \"green\" (expected red, deep_blue)"
        );
    }
}
