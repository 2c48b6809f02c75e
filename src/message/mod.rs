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
pub mod query;
pub mod text;
pub mod tiny;
pub mod types;
pub mod xml;

pub use types::*;

use bytes::Bytes;
use fields::{Catalogue, FieldSet};

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
        // Found by the same fuzzer: quick-xml accepts what conforming
        // parsers refuse; so must we.
        let hdr_doc = String::from_utf8(doc("AZNLETS20").to_vec()).unwrap();
        for (from, to) in [
            ("xmlns:nh2=\"", "xmlns:x=\"a<b\" xmlns:nh2=\""),
            (
                "<n2:NLETSMessageHeader>",
                "<n2:NLETSMessageHeader><q:1a xmlns:q=\"urn:q\"/>",
            ),
            (
                "<n2:NLETSMessageHeader>",
                "<n2:NLETSMessageHeader a=\"1\"b=\"2\">",
            ),
            ("<n2:NLETS ", "<?xml encoding=\"UTF-8\"?><n2:NLETS "),
            (
                "<n2:NLETS ",
                "<?xml version=\"1.0\"]encoding=\"UTF-8\"?><n2:NLETS ",
            ),
            (
                "<n2:NLETS ",
                "<?xml version=\"1.0\"encoding=\"UTF-8\"?><n2:NLETS ",
            ),
            (
                "<n2:NLETS ",
                "<?xml encoding=\"UTF-8\" version=\"1.0\"?><n2:NLETS ",
            ),
            (
                "</n2:NLETSMessageHeader>",
                "\u{ffff}</n2:NLETSMessageHeader>",
            ),
            (
                "<n2:NLETSMessageHeader>",
                "<n2:NLETSMessageHeader><nh2:D\u{feff}x/>",
            ),
            ("<n2:NLETSMessageHeader>", "<n2:NLETSMessageHeader><xml:x/>"),
        ] {
            let bad = hdr_doc.replacen(from, to, 1);
            assert!(
                parse(Bytes::from(bad.clone()), &cat, &Limits::default()).is_err(),
                "{bad}"
            );
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
