//! Nlets messages: format detection, header parsing and protected-field
//! detection, for legacy text ([`legacy`]) and NIEM XML ([`xml`]).
//!
//! [`parse`] is pure and zero-copy: it reads the header values into small
//! inline strings and keeps the raw message as the same `Bytes`. It also
//! reports which protected fields (from the [`fields::Catalogue`]) the message
//! carries, so the decision can tell a photo response from a plain one.

pub mod fields;
pub mod keys;
pub mod legacy;
pub mod text;
pub mod tiny;
pub mod xml;

use bytes::Bytes;
use fields::{Catalogue, FieldSet};
pub use keys::Class;
pub use legacy::HeaderForm;
use std::borrow::Cow;
pub use tiny::Tiny;

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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_name(s, "direction")
    }
}

/// Parses one of an enum's names (the names strum derives from the variants,
/// so they are spelled once); the error lists the names accepted.
pub fn parse_name<E>(s: &str, what: &str) -> Result<E, String>
where
    E: strum::IntoEnumIterator + Copy + Into<&'static str>,
{
    E::iter()
        .find(|v| Into::<&'static str>::into(*v) == s)
        .ok_or_else(|| {
            let all: Vec<&'static str> = E::iter().map(Into::into).collect();
            format!("unknown {what} {s:?} (expected {})", all.join(", "))
        })
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
            max_text: crate::framing::DEFAULT_MAX_MESSAGE,
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

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decides the format: XML when, after an optional UTF-8 BOM and whitespace,
/// the message starts with `<`; legacy text otherwise.
pub fn detect(raw: &[u8]) -> Format {
    let s = raw.strip_prefix(BOM).unwrap_or(raw);
    match s.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Format::Xml,
        _ => Format::Legacy,
    }
}

/// Refuses UTF-16/32 input (a byte-order mark): only UTF-8 and ASCII are accepted.
fn reject_utf16(raw: &[u8]) -> Result<(), ParseError> {
    if raw.starts_with(b"\xFF\xFE") || raw.starts_with(b"\xFE\xFF") {
        return Err(ParseError::new(
            ErrorCode::Encoding,
            0,
            "UTF-16/32 byte-order mark: only UTF-8 and ASCII are accepted",
        ));
    }
    Ok(())
}

/// A walk without redaction cannot refuse; map its failure to a parse error.
fn walk_error(e: xml::Failure) -> ParseError {
    match e {
        xml::Failure::Parse(p) => p,
        xml::Failure::Refuse(_) => ParseError::new(
            ErrorCode::XmlStructure,
            0,
            "internal: refusal without redaction",
        ),
    }
}

/// The routing part of a message, from [`parse_header`].
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

/// Reads only the header (fast path): for XML it stops at the end of
/// `n2:NLETSMessageHeader`, so the body is not validated. Use [`parse`] when
/// the body matters (restricted counterparties, `on_parse_error = drop`).
pub fn parse_header(raw: &[u8], cat: &Catalogue, limits: &Limits) -> Result<Header, ParseError> {
    reject_utf16(raw)?;
    match detect(raw) {
        Format::Xml => {
            let w = xml::walk_header(raw, cat, limits).map_err(walk_error)?;
            let h = w.header;
            Ok(Header {
                format: Format::Xml,
                mke: h.mke,
                class: keys::class_of(h.mke.as_str()),
                originating: h.originating,
                dests: h.dests,
                control: h.control,
            })
        }
        Format::Legacy => {
            let h = legacy::parse_header(raw)?;
            Ok(Header {
                format: Format::Legacy,
                mke: h.mke,
                class: keys::class_of(h.mke.as_str()),
                originating: h.sender,
                dests: h.dests,
                control: h.control,
            })
        }
    }
}

/// Parses a message: format, header, protected fields present.
pub fn parse(raw: Bytes, cat: &Catalogue, limits: &Limits) -> Result<Message, ParseError> {
    reject_utf16(&raw)?;
    match detect(&raw) {
        Format::Xml => {
            let w = xml::walk(&raw, cat, limits, FieldSet::EMPTY, None).map_err(walk_error)?;
            let h = w.header;
            Ok(Message {
                raw,
                format: Format::Xml,
                form: None,
                mke: h.mke,
                class: keys::class_of(h.mke.as_str()),
                originating: h.originating,
                dests: h.dests,
                control: h.control,
                found: w.found,
                body_offset: 0,
            })
        }
        Format::Legacy => {
            let h = legacy::parse_header(&raw)?;
            let body = &raw[h.body_offset..];
            legacy::check_body(body, h.body_offset)?;
            let found = text::present(cat, cat.all(), body);
            Ok(Message {
                format: Format::Legacy,
                form: Some(h.form),
                mke: h.mke,
                class: keys::class_of(h.mke.as_str()),
                originating: h.sender,
                dests: h.dests,
                control: h.control,
                found,
                body_offset: h.body_offset,
                raw,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_values_are_one_plain_text() {
        // Found by the routing differential fuzzer: a reader taking the
        // first text node reads "AZ", origuard would have read "AZNLETS20".
        let cat = Catalogue::builtin();
        let doc = |dest: &str| {
            Bytes::from(format!("<n2:NLETS xmlns:n2=\"http://www.nlets.org/niem/1.0\" xmlns:nh2=\"http://www.nlets.org/niem/nlets-hdr/1.0\"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>{dest}</nh2:DestinationORIID></n2:NLETSMessageHeader></n2:NLETS>"))
        };
        for bad in [
            "AZ<!-- -->NLETS20",
            "AZ<![CDATA[NLETS20]]>",
            "AZ&#78;LETS20",
            "AZ<?x?>NLETS20",
        ] {
            let e = parse(doc(bad), &cat, &Limits::default()).unwrap_err();
            assert_eq!(e.code, ErrorCode::XmlHeader, "{bad}");
        }
        for pi in ["<?<?>", "<?xml x?>", "<?1a?>"] {
            let bad = String::from_utf8(doc("AZNLETS20").to_vec())
                .unwrap()
                .replace(
                    "</n2:NLETSMessageHeader>",
                    &format!("</n2:NLETSMessageHeader>{pi}"),
                );
            assert_eq!(
                parse(Bytes::from(bad), &cat, &Limits::default())
                    .unwrap_err()
                    .code,
                ErrorCode::XmlSyntax,
                "{pi}"
            );
        }
        for good in ["AZNLETS20", "<![CDATA[AZNLETS20]]>", " AZNLETS20\n"] {
            let m = parse(doc(good), &cat, &Limits::default()).unwrap();
            assert_eq!(m.dests.as_slice()[0].as_str(), "AZNLETS20");
        }
    }

    #[test]
    fn header_fast_path_agrees_with_full_parse() {
        let cat = Catalogue::builtin();
        let limits = Limits::default();
        let mut n = 0;
        for dir in ["legacy", "xml"] {
            let d = format!("{}/testdata/messages/{dir}", env!("CARGO_MANIFEST_DIR"));
            for e in std::fs::read_dir(d).unwrap() {
                let raw = Bytes::from(std::fs::read(e.unwrap().path()).unwrap());
                let m = parse(raw.clone(), &cat, &limits).unwrap();
                let h = parse_header(&raw, &cat, &limits).unwrap();
                assert_eq!(
                    (h.format, h.mke, h.class, h.originating, h.dests, h.control),
                    (m.format, m.mke, m.class, m.originating, m.dests, m.control)
                );
                n += 1;
            }
        }
        assert!(n > 30);
        // The fast path does not see a broken body; the full parse does.
        let raw = b"<n2:NLETS xmlns:n2=\"http://www.nlets.org/niem/1.0\" xmlns:nh2=\"http://www.nlets.org/niem/nlets-hdr/1.0\"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DQ</nh2:MessageKeyCodeText><nh2:OriginatingORIID>AZNLETS20</nh2:OriginatingORIID><nh2:DestinationORIID>CO</nh2:DestinationORIID></n2:NLETSMessageHeader><x>&bad;</x></n2:NLETS>";
        assert!(parse_header(raw, &cat, &limits).is_ok());
        assert_eq!(
            parse(Bytes::from_static(raw), &cat, &limits)
                .unwrap_err()
                .code,
            ErrorCode::XmlEntity
        );
    }
}
