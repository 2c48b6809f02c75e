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

use super::error::RedactError;
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

/// Elements a header may hold (the positive check's own list).
const HEADER_CHILDREN: &[&str] = &[
    "MessageKeyCodeText",
    "OriginatingORIID",
    "DestinationORIID",
    "DocumentControlFieldText",
    "MessageReceiveDate",
    "MessageReceiveTime",
    "MessageSendDate",
    "MessageSendTime",
    "ReceiveMessageNumeric",
    "SendMessageNumeric",
];

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

/// The first field of `fields` whose label, marker or element name occurs in
/// `text`, seen the most permissive way (see [`normalize`]).
pub fn scan_text(cat: &Catalogue, fields: FieldSet, text: &[u8]) -> Option<FieldId> {
    if fields.is_empty() {
        return None;
    }
    // Markers: raw, and with whitespace removed (a marker broken by a line wrap).
    if let Some(id) = crate::message::text::markers(cat, fields, text)
        .iter()
        .next()
    {
        return Some(id);
    }
    let squeezed: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if let Some(id) = crate::message::text::markers(cat, fields, &squeezed)
        .iter()
        .next()
    {
        return Some(id);
    }
    let n = normalize(text);
    let mut pattern: Vec<u8> = Vec::new();
    for rule in cat.rules.iter().filter(|r| fields.contains(r.field)) {
        pattern.clear();
        pattern.extend(rule.label.iter().filter(|b| b.is_ascii_alphanumeric()));
        let hit = match rule.kind {
            TextRuleKind::Label => memchr::memmem::find(&n.letters, &pattern).is_some(),
            TextRuleKind::Field => {
                pattern.push(b'/');
                memchr::memmem::find(&n.fields, &pattern).is_some()
                    || spaced_field(&n.spaced, &pattern)
            }
        };
        if hit {
            return Some(rule.field);
        }
    }
    // Markup of a protected element carried as text (embedded XML).
    for (i, f) in cat.fields().iter().enumerate() {
        let id = FieldId(i as u8);
        if !fields.contains(id) {
            continue;
        }
        for e in f.elements.iter().filter(|e| e.local.len() >= 10) {
            let up: Vec<u8> = e.local.bytes().map(|b| b.to_ascii_uppercase()).collect();
            if memchr::memmem::find(&n.letters, &up).is_some() {
                return Some(id);
            }
        }
    }
    None
}

/// `LABEL/` at a word start in the whitespace-separated view (`POB MX`).
fn spaced_field(spaced: &[u8], pattern: &[u8]) -> bool {
    memchr::memmem::find_iter(spaced, pattern)
        .any(|i| i == 0 || !spaced[i - 1].is_ascii_alphanumeric())
}

/// The field whose text label an element or attribute *name* spells (e.g.
/// `x:POB`, `PlaceOfBirth`, `birth-place`): a protected value under a name
/// the catalogue does not list.
pub fn name_hit(cat: &Catalogue, fields: FieldSet, name: &[u8]) -> Option<FieldId> {
    // Allocation-free: the upper-cased letters and digits of the name,
    // compared with each rule's letters and digits.
    let alnum = |b: &&u8| b.is_ascii_alphanumeric();
    let up = || name.iter().filter(alnum).map(|b| b.to_ascii_uppercase());
    for rule in cat.rules.iter().filter(|r| fields.contains(r.field)) {
        let label = || rule.label.iter().filter(alnum).copied();
        let n = label().count();
        let hit = match rule.kind {
            TextRuleKind::Field => {
                up().eq(label())
                    || (name.len() > n
                        && name
                            .iter()
                            .take(n)
                            .map(|b| b.to_ascii_uppercase())
                            .eq(label())
                        && !name[n].is_ascii_lowercase())
            }
            TextRuleKind::Label => {
                let total = up().count();
                n > 0
                    && total >= n
                    && (0..=total - n).any(|start| up().skip(start).take(n).eq(label()))
            }
        };
        if hit {
            return Some(rule.field);
        }
    }
    None
}

/// Two normalised views of a text.
pub struct Normalized {
    /// Letters and digits only, upper-cased: for multi-word labels.
    pub letters: Vec<u8>,
    /// Letters, digits and field separators (`/ : = - < > | ;`, all written `/`):
    /// for `PREFIX/value` fields.
    pub fields: Vec<u8>,
    /// Like `fields`, but whitespace also separates (`POB MX`).
    pub spaced: Vec<u8>,
}

/// Latin/Cyrillic/Greek look-alikes of the ASCII letters that labels use.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        'А' | 'а' | 'Α' | 'α' => 'A',
        'В' | 'в' | 'Β' | 'β' => 'B',
        'С' | 'с' | 'Ϲ' | 'ϲ' => 'C',
        'Е' | 'е' | 'Ε' | 'ε' => 'E',
        'Н' | 'н' | 'Η' | 'η' => 'H',
        'І' | 'і' | 'Ι' | 'ι' | 'Ӏ' => 'I',
        'К' | 'к' | 'Κ' | 'κ' => 'K',
        'М' | 'м' | 'Μ' => 'M',
        'О' | 'о' | 'Ο' | 'ο' => 'O',
        'Р' | 'р' | 'Ρ' | 'ρ' => 'P',
        'Т' | 'т' | 'Τ' | 'τ' => 'T',
        'Х' | 'х' | 'Χ' | 'χ' => 'X',
        'Ѕ' | 'ѕ' => 'S',
        'Ј' | 'ј' => 'J',
        _ => return None,
    })
}

/// Characters a reader does not see: Unicode whitespace, controls (C0 and
/// C1), default-ignorable and format characters, and replacement characters
/// (undecodable bytes).
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
            | 0xFEFF | 0xFFA0 | 0xFFF9..=0xFFFD | 0xE0000..=0xE0FFF)
}

/// Normalises text the way the most permissive reader would see it: decodes
/// it (undecodable bytes vanish), drops invisible characters, applies
/// backspaces and drops terminal escape sequences, folds full-width ASCII and
/// Cyrillic/Greek look-alikes to ASCII, and upper-cases.
pub fn normalize(text: &[u8]) -> Normalized {
    let s = String::from_utf8_lossy(text);
    let mut n = Normalized {
        letters: Vec::with_capacity(text.len()),
        fields: Vec::with_capacity(text.len()),
        spaced: Vec::with_capacity(text.len()),
    };
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ params final  (CSI), or ESC + one character.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&d) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        if c == '\u{8}' {
            n.letters.pop();
            n.fields.pop();
            n.spaced.pop();
            continue;
        }
        if c.is_whitespace() {
            if n.spaced.last() != Some(&b'/') {
                n.spaced.push(b'/');
            }
            continue;
        }
        if invisible(c) {
            continue;
        }
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => homoglyph(c).unwrap_or(c),
        };
        if c.is_ascii_alphanumeric() {
            let u = c.to_ascii_uppercase() as u8;
            n.letters.push(u);
            n.fields.push(u);
            n.spaced.push(u);
        } else if matches!(c, '/' | ':' | '=' | '-' | '<' | '>' | '|' | ';') {
            n.fields.push(b'/');
            n.spaced.push(b'/');
        } else if !c.is_ascii() {
            let mut b = [0u8; 4];
            let e = c.encode_utf8(&mut b).as_bytes();
            n.letters.extend_from_slice(e);
            n.fields.extend_from_slice(e);
            n.spaced.extend_from_slice(e);
        }
        // Other ASCII punctuation (. _ ' " , ( ) ...) is dropped.
    }
    n
}

/// Parses with the independent parser (no DTD, bounded nodes).
fn parse_doc(bytes: &[u8]) -> Result<roxmltree::Document<'_>, RedactError> {
    let s =
        std::str::from_utf8(bytes).map_err(|e| RedactError::VerifierUnparseable(e.to_string()))?;
    let s = s.strip_prefix('\u{feff}').unwrap_or(s);
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(s, opts)
        .map_err(|e| RedactError::VerifierUnparseable(e.to_string()))
}

fn check_xml(bytes: &[u8], cat: &Catalogue, fields: FieldSet) -> Result<(), RedactError> {
    check_xml_doc(&parse_doc(bytes)?, cat, fields)
}

fn check_xml_doc(
    doc: &roxmltree::Document<'_>,
    cat: &Catalogue,
    fields: FieldSet,
) -> Result<(), RedactError> {
    let found = |f: FieldId| Err(RedactError::VerifierFound { field: f });
    // All text of the document in order (except header values and binary
    // content), joined: a label split across elements is seen whole.
    let mut all = String::new();
    for node in doc.descendants() {
        if node.is_comment() || node.is_pi() {
            // Comments and processing instructions are read too: a
            // "commented-out" photo is still delivered.
            let body = match node.pi() {
                Some(pi) => format!("{} {}", pi.target, pi.value.unwrap_or("")),
                None => node.text().unwrap_or("").to_string(),
            };
            if let Some(f) = scan_text(cat, fields, body.as_bytes()) {
                return found(f);
            }
            continue;
        }
        if node.is_text() {
            let exempt = node.parent_element().is_some_and(|p| {
                let tag = p.tag_name();
                let (ns, local) = (
                    tag.namespace().unwrap_or("").as_bytes(),
                    tag.name().as_bytes(),
                );
                let in_header = p.parent_element().is_some_and(|g| {
                    g.tag_name().namespace() == Some(NS_N2_STR)
                        && g.tag_name().name() == "NLETSMessageHeader"
                });
                (in_header && ns == NS_NH2 && HEADER_VALUES.contains(&local))
                    || cat.binary(ns, local).is_some()
            });
            if !exempt {
                all.push_str(node.text().unwrap_or(""));
            }
            continue;
        }
        if !node.is_element() {
            continue;
        }
        let tag = node.tag_name();
        let ns = tag.namespace().unwrap_or("").as_bytes();
        let local = tag.name().as_bytes();
        if let Some(f) = cat
            .element(ns, local)
            .or_else(|| cat.lookalike(local))
            .or_else(|| name_hit(cat, fields, local))
        {
            if fields.contains(f) {
                return found(f);
            }
        }
        for a in node.attributes() {
            if let Some(f) = name_hit(cat, fields, a.name().as_bytes())
                .or_else(|| scan_text(cat, fields, a.value().as_bytes()))
            {
                return found(f);
            }
        }
    }
    if let Some(f) = scan_text(cat, fields, all.as_bytes()) {
        return found(f);
    }
    Ok(())
}

/// The positive check: every element, attribute, label and value of the
/// projected output is one the profile releases. Written apart from the
/// projection (a different XML parser, and legacy lines split on label
/// positions rather than scanned item by item), so that a gap in one is
/// unlikely to be a gap in the other.
pub fn check_profile(
    bytes: &[u8],
    format: Format,
    body_offset: usize,
    p: &super::profile::Profile,
) -> Result<(), RedactError> {
    let bad = |what: &'static str| Err(RedactError::ProfileViolation { what });
    match format {
        Format::Legacy => match bytes.get(body_offset..) {
            Some(body) => check_legacy_body(body, &p.legacy).or_else(bad),
            None => bad("no body"),
        },
        Format::Xml => check_xml_profile(bytes, p).or_else(bad),
    }
}

/// Both checks on a projected output, parsing an XML document once: the
/// positive one ([`check_profile`]) and the catalogue one ([`check`]).
pub fn check_both(
    bytes: &[u8],
    format: Format,
    body_offset: usize,
    cat: &Catalogue,
    fields: FieldSet,
    p: &super::profile::Profile,
) -> Result<(), RedactError> {
    match format {
        Format::Legacy => {
            check_profile(bytes, format, body_offset, p)?;
            check(bytes, format, cat, fields)
        }
        Format::Xml => {
            let doc = parse_doc(bytes)?;
            check_xml_profile_doc(&doc, p)
                .map_err(|what| RedactError::ProfileViolation { what })?;
            if fields.is_empty() {
                Ok(())
            } else {
                check_xml_doc(&doc, cat, fields)
            }
        }
    }
}

/// Legacy lines: only printable ASCII, blanks and line breaks; every line a
/// released literal, or released `LABEL/value` fields (with an unlabelled
/// leading value before one of the profile's `leading_before` labels when
/// the profile allows it).
pub fn check_legacy_body(
    body: &[u8],
    p: &super::profile::LegacyProfile,
) -> Result<(), &'static str> {
    use super::profile::trim_end;
    for (i, &b) in body.iter().enumerate() {
        let ok = (0x20..0x7f).contains(&b)
            || b == b'\t'
            || b == b'\n'
            || (b == b'\r' && body.get(i + 1) == Some(&b'\n'));
        if !ok {
            return Err("a byte other than printable ASCII, tab or a line break");
        }
    }
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        if p.literal(line) {
            continue;
        }
        // Label positions: an upper-case word at the line start or after a
        // blank or a period, directly followed by a separator.
        let mut labels: Vec<(usize, usize, u8)> = Vec::new();
        for i in 0..line.len() {
            if i > 0 && !matches!(line[i - 1], b' ' | b'\t' | b'.') {
                continue;
            }
            if !line[i].is_ascii_uppercase() {
                continue;
            }
            let e = i + line[i..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            if let Some(&s) = line.get(e) {
                if matches!(s, b'/' | b':' | b'=') {
                    labels.push((i, e, s));
                }
            }
        }
        let Some(&(first_label, first_end, _)) = labels.first() else {
            return Err("a line with no released field");
        };
        let lead = trim_end(&line[..first_label]);
        let lead = &lead[lead
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count()..];
        if !lead.is_empty() {
            let before_ok = p.leading_before.is_empty()
                || p.leading_before
                    .iter()
                    .any(|l| l.as_bytes() == &line[first_label..first_end]);
            match &p.leading {
                Some(r) if before_ok && r.allows(lead) => {}
                _ => return Err("unlabelled text"),
            }
        }
        for (k, &(s, e, sep)) in labels.iter().enumerate() {
            let mut end = labels.get(k + 1).map_or(line.len(), |n| n.0);
            if end > e + 1 && line[end - 1] == b'.' && k + 1 < labels.len() {
                end -= 1;
            }
            let mut v = trim_end(&line[e + 1..end]);
            if k + 1 == labels.len() {
                v = v.strip_suffix(b".").unwrap_or(v);
            }
            match p.field(&line[s..e], sep) {
                Some(r) if r.allows(v) => {}
                Some(_) => return Err("a value outside its field's rule"),
                None => return Err("a label the profile does not release"),
            }
        }
    }
    Ok(())
}

/// Attributes that name or point at elements (any namespace; `href` in
/// XLink's).
fn is_link(ns: &str, local: &str) -> bool {
    matches!(
        local,
        "id" | "ref" | "uri" | "metadata" | "relationshipMetadata" | "linkMetadata"
    ) || (local == "href" && ns == "http://www.w3.org/1999/xlink")
}

fn check_xml_profile(bytes: &[u8], p: &super::profile::Profile) -> Result<(), &'static str> {
    let doc = parse_doc(bytes).map_err(|_| "does not parse")?;
    check_xml_profile_doc(&doc, p)
}

/// Checks an element of a released XML document, and everything under it,
/// against node `id` of the profile.
fn walk_profile(
    n: roxmltree::Node<'_, '_>,
    id: usize,
    p: &super::profile::Profile,
) -> Result<(), &'static str> {
    use super::profile::NodeKind;
    let node = &p.xml.nodes[id];
    for a in n.attributes() {
        let ns = a.namespace().unwrap_or("");
        if is_link(ns, a.name()) {
            // Identifiers and references, as the projection writes
            // them: `R<n>` names, `#` only before them.
            let ok = a.value().split(' ').all(|v| {
                let v = v.strip_prefix('#').unwrap_or(v);
                v.len() > 1 && v.starts_with('R') && v[1..].bytes().all(|b| b.is_ascii_digit())
            });
            if ok {
                continue;
            }
            return Err("an identifier not written by the projection");
        }
        match p.xml.attr(id, ns.as_bytes(), a.name().as_bytes()) {
            Some(r) if r.allows(a.value().as_bytes()) => {}
            _ => return Err("an attribute the profile does not release"),
        }
    }
    let text: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    match &node.kind {
        NodeKind::Container => {
            if !text.trim().is_empty() {
                return Err("text in a container element");
            }
        }
        NodeKind::Value(r) => {
            if !r.allows(text.trim().as_bytes()) {
                return Err("a value outside its element's rule");
            }
        }
        NodeKind::Legacy => check_legacy_body(text.as_bytes(), &p.legacy)?,
        NodeKind::Base64 { max } => {
            if !NodeKind::base64_allows(text.as_bytes(), *max) {
                return Err("a value outside its element's rule");
            }
        }
    }
    for c in n.children().filter(|c| c.is_element()) {
        let ns = c.tag_name().namespace().unwrap_or("");
        if node.kind != NodeKind::Container {
            return Err("an element inside a value");
        }
        match p
            .xml
            .child(id, ns.as_bytes(), c.tag_name().name().as_bytes())
        {
            Some(cid) => walk_profile(c, cid, p)?,
            None => return Err("an element the profile does not release"),
        }
    }
    Ok(())
}

fn check_xml_profile_doc(
    doc: &roxmltree::Document<'_>,
    p: &super::profile::Profile,
) -> Result<(), &'static str> {
    if doc.descendants().any(|n| n.is_comment() || n.is_pi()) {
        return Err("a comment or processing instruction");
    }
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(NS_N2_STR) || root.tag_name().name() != "NLETS" {
        return Err("root is not n2:NLETS");
    }
    for a in root.attributes() {
        if !(a.namespace() == Some(NS_N2_STR) && a.name() == "version") {
            return Err("an attribute on the root");
        }
    }
    let mut children = root.children().filter(|c| c.is_element());
    let Some(h) = children.next() else {
        return Err("no header");
    };
    if h.tag_name().namespace() != Some(NS_N2_STR) || h.tag_name().name() != "NLETSMessageHeader" {
        return Err("the first element is not the header");
    }
    let nh2 = std::str::from_utf8(NS_NH2).unwrap_or_default();
    if h.attributes().len() != 0 {
        return Err("an attribute on the header");
    }
    for c in h.children() {
        if c.is_text() && c.text().is_some_and(|t| !t.trim().is_empty()) {
            return Err("text in the header");
        }
        if c.is_element() {
            let known = c.tag_name().namespace() == Some(nh2)
                && HEADER_CHILDREN.contains(&c.tag_name().name())
                && c.attributes().len() == 0
                && c.children().all(|t| t.is_text());
            if !known {
                return Err("an unknown header element");
            }
        }
    }
    for c in children {
        let ns = c.tag_name().namespace().unwrap_or("");
        match p
            .xml
            .child(0, ns.as_bytes(), c.tag_name().name().as_bytes())
        {
            Some(cid) => walk_profile(c, cid, p)?,
            None => return Err("an element the profile does not release"),
        }
    }
    if root
        .children()
        .any(|c| c.is_text() && c.text().is_some_and(|t| !t.trim().is_empty()))
    {
        return Err("text in the root");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::POB;

    #[test]
    fn lookalikes_fold() {
        assert_eq!(normalize("Ｐｏｂ/mx".as_bytes()).fields, b"POB/MX");
        assert_eq!(
            normalize("P\u{200b}O\u{00ad}B /MX".as_bytes()).fields,
            b"POB/MX"
        );
        assert_eq!(
            normalize("Р\u{a0}О\u{2066}В - mx".as_bytes()).fields,
            b"POB/MX"
        );
        assert_eq!(normalize(b"P\x1b[1mOX\x08B/").fields, b"POB/");
        assert_eq!(normalize(b"PLACE-OF_BIRTH").letters, b"PLACEOFBIRTH");
        let cat = Catalogue::builtin();
        let mut s = FieldSet::EMPTY;
        s.insert(POB);
        assert_eq!(scan_text(&cat, s, "NAM/X.ＰOB/MX".as_bytes()), Some(POB));
        assert_eq!(scan_text(&cat, s, "JOSÉ PÉREZ".as_bytes()), None);
    }
}
