//! The types of a parsed message: header values (inline, no allocation),
//! parse errors, parser limits, the traffic direction. Apart from the
//! parsers ([`super::legacy`], [`super::xml`]) so that they and
//! [`super::parse`] share them without importing each other.

use super::fields::{self, FieldSet};
pub use super::keys::Class;
pub use super::tiny::Tiny;
use bytes::Bytes;
use std::borrow::Cow;

/// Which header form a legacy message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderForm {
    /// One-line form a member sends to Nlets.
    Input,
    /// Multi-line form Nlets delivers to the destination.
    Output,
}

/// Message key: 1–4 characters A–Z 0–9.
pub type Mke = Tiny<4>;
/// An ORI (9 characters) or a 2-character member code.
pub type Ori = Tiny<9>;
/// Control field: at most [`MAX_CONTROL`] printable characters.
pub type Control = Tiny<10>;

/// Longest control field accepted (Nlets: `*` plus up to 10 characters).
pub const MAX_CONTROL: usize = 10;
/// Most destinations one message may name (DQ/RQ allow five).
pub const MAX_DESTS: usize = 5;

/// The destinations of a message, inline (no allocation).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Dests {
    n: u8,
    d: [Ori; MAX_DESTS],
}

impl Dests {
    /// Adds one; false when full.
    pub fn push(&mut self, o: Ori) -> bool {
        if (self.n as usize) < MAX_DESTS {
            self.d[self.n as usize] = o;
            self.n += 1;
            true
        } else {
            false
        }
    }

    /// The destinations in order.
    pub fn as_slice(&self) -> &[Ori] {
        &self.d[..self.n as usize]
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// True when none.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The first destination, if any.
    pub fn first(&self) -> Option<Ori> {
        self.as_slice().first().copied()
    }
}

impl std::fmt::Debug for Dests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Kind of parse failure; one-to-one with a metric label and audit reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// Legacy header does not follow either header form.
    LegacyHeader,
    /// XML is not well-formed.
    XmlSyntax,
    /// A DOCTYPE / DTD was present (refused, never expanded).
    XmlDtd,
    /// An entity other than the five predefined ones, or a bad character reference.
    XmlEntity,
    /// A configured bound (depth, attributes, name or text size) was exceeded.
    XmlLimit,
    /// Not UTF-8, a non-UTF-8 encoding declaration, or an illegal character.
    Encoding,
    /// Well-formed, but not an Nlets message (root, header, trailing content).
    XmlStructure,
    /// An element or attribute uses an undeclared namespace prefix.
    XmlNamespace,
    /// A header value is missing or malformed (MKE, ORI, control field).
    XmlHeader,
}

impl ErrorCode {
    /// Stable reason code for metrics and audit.
    pub fn reason(self) -> &'static str {
        self.into()
    }
}

/// Traffic direction, as seen from the state.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Direction {
    /// Nlets → state (queries from other agencies, responses to the state's queries).
    Inbound,
    /// State → Nlets (the state's responses and its agencies' queries).
    Outbound,
}

impl Direction {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl std::str::FromStr for Direction {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "direction")
    }
}

/// A message that could not be parsed: what and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct ParseError {
    /// Byte offset within the message.
    pub offset: usize,
    /// Human-readable description.
    pub what: Cow<'static, str>,
    /// Machine code.
    pub code: ErrorCode,
}

impl ParseError {
    pub(crate) fn new(code: ErrorCode, offset: usize, what: impl Into<Cow<'static, str>>) -> Self {
        ParseError {
            offset,
            what: what.into(),
            code,
        }
    }
}

/// The two encodings of an Nlets message.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "snake_case")]
pub enum Format {
    /// Legacy text (`MKE.ORI...TXT`).
    Legacy,
    /// NIEM XML (`n2:NLETS`).
    Xml,
}

impl Format {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// Parser bounds. Anything beyond them is refused, never processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Longest element or attribute name, in bytes.
    pub max_name: usize,
    /// Largest text run (text, CDATA and references between two tags), in bytes.
    pub max_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_attributes: 32,
            max_name: 256,
            max_text: crate::limits::DEFAULT_MAX_MESSAGE,
        }
    }
}

/// A parsed message. Header values are inline copies; `raw` is the original
/// bytes, untouched.
#[derive(Clone, Debug)]
pub struct Message {
    /// The message exactly as received.
    pub raw: Bytes,
    /// Legacy or XML.
    pub format: Format,
    /// Legacy header form (None for XML).
    pub form: Option<HeaderForm>,
    /// Message key.
    pub mke: Mke,
    /// Class of the key.
    pub class: Class,
    /// Originating ORI.
    pub originating: Ori,
    /// Destinations.
    pub dests: Dests,
    /// Control field, when present.
    pub control: Option<Control>,
    /// Protected fields present (catalogue-wide), including look-alikes.
    pub found: FieldSet,
    /// Offset of the legacy body (after `TXT`); 0 for XML.
    pub body_offset: usize,
}

impl Message {
    /// The routing part of the message.
    pub fn header(&self) -> Header {
        Header {
            format: self.format,
            mke: self.mke,
            class: self.class,
            originating: self.originating,
            dests: self.dests,
            control: self.control,
        }
    }

    /// True when the message carries the built-in photo field.
    pub fn has_photo(&self) -> bool {
        self.found.contains(fields::PHOTO)
    }

    /// True when the message carries the built-in place-of-birth field.
    pub fn has_pob(&self) -> bool {
        self.found.contains(fields::POB)
    }
}

/// The routing part of a message, from [`super::parse_header`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Legacy or XML.
    pub format: Format,
    /// Message key.
    pub mke: Mke,
    /// Class of the key.
    pub class: Class,
    /// Originating ORI.
    pub originating: Ori,
    /// Destinations.
    pub dests: Dests,
    /// Control field.
    pub control: Option<Control>,
}
