//! The independent second check after redaction.
//!
//! It shares nothing with the first pass but the catalogue (data) and the
//! marker search (plain substring search): XML is
//! re-parsed with a different parser (roxmltree, DTDs refused), and text is
//! matched by a different, stricter method — all whitespace and control
//! characters are dropped and the text upper-cased before searching for each
//! rule's label — so a gap in one matcher is unlikely to be a gap in both.
//! The check is deliberately stricter than the redactor: anything it flags is
//! dropped, never forwarded.

use super::RedactError;
use crate::message::fields::{Catalogue, FieldId, FieldSet, TextRuleKind};
use crate::message::xml::NS_NH2;

/// The envelope namespace as text (roxmltree reports namespaces as `&str`).
const NS_N2_STR: &str = "http://www.nlets.org/niem/1.0";

/// Header elements whose values are read, never redacted.
const HEADER_VALUES: [&[u8]; 4] = [
    b"MessageKeyCodeText",
    b"OriginatingORIID",
    b"DestinationORIID",
    b"DocumentControlFieldText",
];
use crate::message::Format;

/// Most XML nodes the verifier will build (bounds its memory).
const NODES_LIMIT: u32 = 1_000_000;

/// Confirms that no field of `fields` remains in `bytes`.
pub fn check(
    bytes: &[u8],
    format: Format,
    cat: &Catalogue,
    fields: FieldSet,
) -> Result<(), RedactError> {
    if fields.is_empty() {
        return Ok(());
    }
    match format {
        Format::Legacy => {
            let body = memchr::memmem::find(bytes, b"TXT").map_or(bytes, |i| &bytes[i + 3..]);
            match scan_text(cat, fields, body) {
                Some(field) => Err(RedactError::VerifierFound { field }),
                None => Ok(()),
            }
        }
        Format::Xml => check_xml(bytes, cat, fields),
    }
}

/// The first field of `fields` whose label or marker occurs in `text`.
pub fn scan_text(cat: &Catalogue, fields: FieldSet, text: &[u8]) -> Option<FieldId> {
    if let Some(id) = crate::message::text::markers(cat, fields, text)
        .iter()
        .next()
    {
        return Some(id);
    }
    let mut norm: Vec<u8> = Vec::new();
    let mut pattern: Vec<u8> = Vec::new();
    for rule in cat.rules.iter().filter(|r| fields.contains(r.field)) {
        if norm.is_empty() {
            norm = normalize(text);
        }
        pattern.clear();
        pattern.extend(rule.label.iter().filter(|&&b| b != b' '));
        let hit = match rule.kind {
            TextRuleKind::Label => memchr::memmem::find(&norm, &pattern).is_some(),
            TextRuleKind::Field => {
                pattern.push(b'/');
                let slash = memchr::memmem::find(&norm, &pattern).is_some();
                let n = pattern.len();
                pattern[n - 1] = b':';
                slash || memchr::memmem::find(&norm, &pattern).is_some()
            }
        };
        if hit {
            return Some(rule.field);
        }
    }
    None
}

/// Normalises text the way the most permissive reader would see it: drops
/// whitespace, control characters and invisible format characters
/// (zero-width space/joiners, word joiner, BOM, soft hyphen), folds
/// full-width ASCII look-alikes (U+FF01..U+FF5E) to ASCII, and upper-cases.
pub fn normalize(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b < 0x80 {
            if b > b' ' && b != 0x7f {
                out.push(b.to_ascii_uppercase());
            }
            i += 1;
            continue;
        }
        let rest = &text[i..];
        match rest {
            // U+FF01..U+FF3F: EF BC 81..BF -> 0x21..0x5F
            [0xEF, 0xBC, c, ..] if (0x81..=0xBF).contains(c) => {
                out.push((c - 0x81 + 0x21).to_ascii_uppercase());
                i += 3;
            }
            // U+FF40..U+FF5E: EF BD 80..9E -> 0x60..0x7E
            [0xEF, 0xBD, c, ..] if (0x80..=0x9E).contains(c) => {
                out.push((c - 0x80 + 0x60).to_ascii_uppercase());
                i += 3;
            }
            // U+200B..U+200F, U+2060, U+FEFF, U+00AD: invisible.
            [0xE2, 0x80, c, ..] if (0x8B..=0x8F).contains(c) => i += 3,
            [0xE2, 0x81, 0xA0, ..] | [0xEF, 0xBB, 0xBF, ..] => i += 3,
            [0xC2, 0xAD, ..] => i += 2,
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn check_xml(bytes: &[u8], cat: &Catalogue, fields: FieldSet) -> Result<(), RedactError> {
    let s =
        std::str::from_utf8(bytes).map_err(|e| RedactError::VerifierUnparseable(e.to_string()))?;
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(s, opts)
        .map_err(|e| RedactError::VerifierUnparseable(e.to_string()))?;
    let mut stack = vec![doc.root_element()];
    let mut text = String::new();
    while let Some(node) = stack.pop() {
        let tag = node.tag_name();
        let ns = tag.namespace().unwrap_or("").as_bytes();
        let local = tag.name().as_bytes();
        let field = cat.element(ns, local).or_else(|| cat.lookalike(local));
        if let Some(f) = field {
            if fields.contains(f) {
                return Err(RedactError::VerifierFound { field: f });
            }
        }
        for a in node.attributes() {
            if let Some(f) = scan_text(cat, fields, a.value().as_bytes()) {
                return Err(RedactError::VerifierFound { field: f });
            }
        }
        // Own text is exempt only for the header values (passed unchanged)
        // and binary content (base64 data); child elements are always checked.
        let in_header = node.parent_element().is_some_and(|p| {
            p.tag_name().namespace() == Some(NS_N2_STR)
                && p.tag_name().name() == "NLETSMessageHeader"
        });
        let exempt = (in_header && ns == NS_NH2 && HEADER_VALUES.contains(&local))
            || cat.binary(ns, local).is_some();
        text.clear();
        for c in node.children() {
            if c.is_text() {
                if !exempt {
                    text.push_str(c.text().unwrap_or(""));
                }
            } else if c.is_element() {
                stack.push(c);
            }
        }
        if let Some(f) = scan_text(cat, fields, text.as_bytes()) {
            return Err(RedactError::VerifierFound { field: f });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::POB;

    #[test]
    fn lookalikes_fold() {
        assert_eq!(normalize("Ｐｏｂ/mx".as_bytes()), b"POB/MX");
        assert_eq!(normalize("P\u{200b}O\u{00ad}B /MX".as_bytes()), b"POB/MX");
        let cat = Catalogue::builtin();
        let mut s = FieldSet::EMPTY;
        s.insert(POB);
        assert_eq!(scan_text(&cat, s, "NAM/X.ＰOB/MX".as_bytes()), Some(POB));
        assert_eq!(scan_text(&cat, s, "JOSÉ PÉREZ".as_bytes()), None);
    }
}
