//! Projection of a NIEM XML message onto a profile's XML part.
//!
//! The message has already passed the validating parse
//! ([`crate::message::parse`]). This walk writes, in order: the XML
//! declaration, the root start tag with only the attributes it may carry,
//! the header byte for byte (refusing anything in it that is not a known
//! header element with a plain value), and below it only the elements the
//! profile names in context, each start tag rebuilt with the attributes the
//! profile allows and the namespace declarations of known namespaces. Values
//! are checked against their rule; free text elements are projected as
//! legacy text. Comments, processing instructions, unknown elements (with
//! their subtree), unknown attributes and text in containers are not
//! written. A reference from removed content to an element that would be
//! kept refuses the message: the kept element's meaning came from the
//! removed one.

use super::legacy;
use super::profile::{CharClass, NodeKind, Profile, ValueRule};
use crate::message::xml::{escape_into, NS_N2, NS_NH2};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use std::collections::HashSet;

/// Why a projection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmlRefusal {
    /// The walk failed (the document changed under us, or a bound was hit).
    Syntax,
    /// The header holds something other than known header elements with
    /// plain values (comments, unknown elements, attributes, markup).
    Header,
    /// Removed content refers to an element that would be kept.
    Reference,
}

/// Counts of one projection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Projected {
    /// Elements, attributes, values and text items written.
    pub kept: u32,
    /// Elements (with their subtree), attributes, values, comments and
    /// text items not written.
    pub removed: u32,
}

/// Header elements that carry only plain values: the characters and the
/// length each value may have (`None`: printable ASCII, for the control
/// field, checked by the parse as at most 10 characters).
const HEADER_ELEMENTS: &[(&[u8], Option<&str>, usize)] = &[
    (b"MessageKeyCodeText", Some("A-Z0-9"), 4),
    (b"OriginatingORIID", Some("A-Z0-9"), 9),
    (b"DestinationORIID", Some("A-Z0-9"), 9),
    (b"DocumentControlFieldText", None, 10),
    (b"MessageReceiveDate", Some("0-9/"), 10),
    (b"MessageReceiveTime", Some("0-9:"), 5),
    (b"MessageSendDate", Some("0-9/"), 10),
    (b"MessageSendTime", Some("0-9:"), 5),
    (b"ReceiveMessageNumeric", Some("0-9"), 10),
    (b"SendMessageNumeric", Some("0-9"), 10),
];

/// Local names of attributes that identify or refer to an element (NIEM
/// `structures`, `xml:id`); compared in any namespace.
const ID_ATTRS: &[&[u8]] = &[b"id"];
const REF_ATTRS: &[&[u8]] = &[
    b"ref",
    b"uri",
    b"metadata",
    b"relationshipMetadata",
    b"linkMetadata",
];

#[derive(Default)]
struct Frame {
    /// Profile node when the element is written.
    node: Option<usize>,
    /// For a value or free-text element: its start tag, written with the
    /// content at the end tag once the whole content is known.
    start_tag: Vec<u8>,
    /// Its logical text so far (references resolved, CDATA unwrapped).
    text: Vec<u8>,
    /// The raw span when the content is one plain text event.
    plain: Option<(usize, usize)>,
    /// Text events seen.
    pieces: u32,
    /// A child element appeared inside it (removed).
    had_child: bool,
}

struct Walker<'a> {
    raw: &'a [u8],
    p: &'a Profile,
    known_ns: HashSet<&'a [u8]>,
    out: &'a mut Vec<u8>,
    st: Projected,
    stack: Vec<Frame>,
    /// Depth (stack length) at which skipping started.
    skip: Option<usize>,
    /// Header span being copied.
    in_header: bool,
    kept_ids: HashSet<Vec<u8>>,
    removed_refs: HashSet<Vec<u8>>,
    text: TextRun,
    /// Characters the open header element's value may hold.
    header_class: CharClass,
    /// Bytes its value may still take.
    header_left: usize,
    /// A free-text element has been projected (the leading value is taken).
    legacy_seen: bool,
}

/// A run of text between elements (containers and outside the root).
#[derive(Default)]
struct TextRun {
    events: usize,
    plain: Option<(usize, usize)>,
    only_ws: bool,
    nonblank: bool,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|&c| !is_ws(c)).unwrap_or(b.len());
    let e = b.iter().rposition(|&c| !is_ws(c)).map_or(s, |e| e + 1);
    &b[s..e.max(s)]
}

/// Projects `raw` (a validated NIEM message) onto `p`, writing to `out`.
pub fn project(raw: &[u8], p: &Profile, out: &mut Vec<u8>) -> Result<Projected, XmlRefusal> {
    let mut known_ns: HashSet<&[u8]> = HashSet::new();
    known_ns.insert(NS_N2);
    known_ns.insert(NS_NH2);
    for n in &p.xml.nodes {
        known_ns.insert(n.ns.as_bytes());
        for a in &n.attrs {
            if !a.ns.is_empty() {
                known_ns.insert(a.ns.as_bytes());
            }
        }
    }
    let mut w = Walker {
        raw,
        p,
        known_ns,
        out,
        st: Projected::default(),
        stack: Vec::new(),
        skip: None,
        in_header: false,
        kept_ids: HashSet::new(),
        removed_refs: HashSet::new(),
        text: TextRun::default(),
        header_class: CharClass::EMPTY,
        header_left: 0,
        legacy_seen: false,
    };
    w.go()?;
    if w.kept_ids.iter().any(|id| w.removed_refs.contains(id)) {
        return Err(XmlRefusal::Reference);
    }
    Ok(w.st)
}

impl<'a> Walker<'a> {
    fn go(&mut self) -> Result<(), XmlRefusal> {
        let bom = if self.raw.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let body = &self.raw[bom..];
        self.out.extend_from_slice(&self.raw[..bom]);
        let mut r = NsReader::from_reader(body);
        {
            let c = r.config_mut();
            c.check_end_names = true;
            c.expand_empty_elements = false;
            c.trim_text(false);
        }
        let mut header_start = 0;
        loop {
            let before = bom + r.buffer_position() as usize;
            let ev = r.read_event().map_err(|_| XmlRefusal::Syntax)?;
            let after = bom + r.buffer_position() as usize;
            if self.in_header {
                if self.header_event(&r, &ev)? {
                    // The header's end tag: copy it whole, byte for byte.
                    self.out.extend_from_slice(&self.raw[header_start..after]);
                    self.in_header = false;
                    self.stack.pop();
                    self.st.kept += 1;
                }
                continue;
            }
            match ev {
                Event::Decl(_) => self.out.extend_from_slice(&self.raw[before..after]),
                Event::DocType(_) | Event::Comment(_) | Event::PI(_) => {
                    if self.skip.is_none() {
                        self.st.removed += 1;
                    }
                }
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(ev, Event::Empty(_));
                    self.flush_text();
                    if self.stack.len() == 1
                        && self.skip.is_none()
                        && resolved(&r, e) == Some((NS_N2, &b"NLETSMessageHeader"[..]))
                        && !empty
                    {
                        // Copied byte for byte, so its start tag may carry
                        // nothing but declarations of the Nlets namespaces.
                        header_start_ok(e)?;
                        self.in_header = true;
                        header_start = before;
                        self.stack.push(Frame::default());
                        continue;
                    }
                    self.start(&r, e, empty)?;
                }
                Event::End(_) => {
                    self.flush_text();
                    self.end(before, after);
                }
                Event::Text(t) => {
                    let raw = &self.raw[before..after];
                    self.add_text(raw, &t, Some((before, after)));
                }
                Event::CData(c) => {
                    let inner: &[u8] = &c;
                    let inner = inner.to_vec();
                    self.add_text(&inner, &inner, None);
                }
                Event::GeneralRef(g) => {
                    let ch = if g.is_char_ref() {
                        g.resolve_char_ref().ok().flatten()
                    } else {
                        match &g[..] {
                            b"lt" => Some('<'),
                            b"gt" => Some('>'),
                            b"amp" => Some('&'),
                            b"apos" => Some('\''),
                            b"quot" => Some('"'),
                            _ => None,
                        }
                    };
                    let ch = ch.ok_or(XmlRefusal::Syntax)?;
                    let mut b = [0u8; 4];
                    let s = ch.encode_utf8(&mut b).as_bytes().to_vec();
                    self.add_text(&s, &s, None);
                }
                Event::Eof => {
                    self.flush_text();
                    break;
                }
            }
        }
        Ok(())
    }

    /// Checks one event inside the header; true at the header's end tag.
    fn header_event(&mut self, r: &NsReader<&[u8]>, ev: &Event<'_>) -> Result<bool, XmlRefusal> {
        match ev {
            Event::Start(e) => {
                if self.stack.len() != 1 + 1 {
                    return Err(XmlRefusal::Header);
                }
                let Some((ns, local)) = resolved(r, e) else {
                    return Err(XmlRefusal::Header);
                };
                let known = HEADER_ELEMENTS
                    .iter()
                    .find(|(l, _, _)| *l == local)
                    .filter(|_| ns == NS_NH2);
                let Some((_, class, max)) = known else {
                    return Err(XmlRefusal::Header);
                };
                if e.attributes().next().is_some() {
                    return Err(XmlRefusal::Header);
                }
                self.header_class = class.map_or(CharClass::printable(), |c| {
                    CharClass::parse(c).unwrap_or_default()
                });
                self.header_left = *max;
                self.stack.push(Frame::default());
                Ok(false)
            }
            Event::End(_) => {
                if self.stack.len() == 2 {
                    return Ok(true);
                }
                self.stack.pop();
                Ok(false)
            }
            Event::Text(t) => {
                let ok = if self.stack.len() == 2 {
                    t.iter().all(|&b| is_ws(b))
                } else {
                    let v = trim(t);
                    let fits = v.len() <= self.header_left && self.header_class.allows_all(v);
                    self.header_left = self.header_left.saturating_sub(v.len());
                    fits
                };
                if ok {
                    Ok(false)
                } else {
                    Err(XmlRefusal::Header)
                }
            }
            Event::CData(c) if self.stack.len() == 3 => {
                let fits = c.len() <= self.header_left && self.header_class.allows_all(c);
                self.header_left = self.header_left.saturating_sub(c.len());
                if fits {
                    Ok(false)
                } else {
                    Err(XmlRefusal::Header)
                }
            }
            _ => Err(XmlRefusal::Header),
        }
    }

    fn start(
        &mut self,
        r: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        empty: bool,
    ) -> Result<(), XmlRefusal> {
        let depth = self.stack.len();
        if self.skip.is_none() {
            if let Some(f) = self.stack.last_mut() {
                f.had_child = true;
                // Removed markup inside free text separates what is around it.
                f.text.push(b'\n');
            }
        }
        let node = if self.skip.is_some() {
            None
        } else if depth == 0 {
            (resolved(r, e) == Some((NS_N2, &b"NLETS"[..]))).then_some(0)
        } else {
            match self.stack.last().and_then(|f| f.node) {
                Some(parent) if self.p.xml.nodes[parent].kind == NodeKind::Container => {
                    resolved(r, e).and_then(|(ns, l)| self.p.xml.child(parent, ns, l))
                }
                _ => None,
            }
        };
        let mut frame = Frame {
            node,
            ..Frame::default()
        };
        match node {
            Some(n) => {
                self.st.kept += 1;
                let pending = !empty && self.p.xml.nodes[n].kind != NodeKind::Container;
                if pending {
                    let mut tag = Vec::new();
                    std::mem::swap(&mut tag, self.out);
                    let r2 = self.write_start(r, e, n, empty);
                    std::mem::swap(&mut tag, self.out);
                    r2?;
                    frame.start_tag = tag;
                } else {
                    self.write_start(r, e, n, empty)?;
                }
            }
            None => {
                if self.skip.is_none() {
                    self.st.removed += 1;
                    if !empty {
                        self.skip = Some(depth);
                    }
                }
                self.collect_refs(e);
            }
        }
        if !empty {
            self.stack.push(frame);
        }
        Ok(())
    }

    fn write_start(
        &mut self,
        r: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        n: usize,
        empty: bool,
    ) -> Result<(), XmlRefusal> {
        self.out.push(b'<');
        self.out.extend_from_slice(e.name().as_ref());
        for a in e.attributes().with_checks(true) {
            let a = a.map_err(|_| XmlRefusal::Syntax)?;
            let key = a.key;
            let value = a.unescape_value().map_err(|_| XmlRefusal::Syntax)?;
            if key.as_namespace_binding().is_some() {
                // Declarations of namespaces the profile or header uses.
                if self.known_ns.contains(a.value.as_ref()) || a.value.is_empty() {
                    self.out.push(b' ');
                    self.out.extend_from_slice(key.as_ref());
                    self.out.extend_from_slice(b"=\"");
                    self.out.extend_from_slice(&a.value);
                    self.out.push(b'"');
                } else {
                    self.st.removed += 1;
                }
                continue;
            }
            let (res, local) = r.resolve_attribute(key);
            let ns: &[u8] = match res {
                ResolveResult::Bound(b) => b.into_inner(),
                _ => b"",
            };
            let local = local.into_inner();
            if ID_ATTRS.contains(&local) {
                for id in value.split_ascii_whitespace() {
                    self.kept_ids
                        .insert(id.trim_start_matches('#').as_bytes().to_vec());
                }
            }
            let allowed = if n == 0 {
                (ns == NS_N2 && local == b"version").then_some(ValueRule {
                    class: super::profile::CharClass::parse("0-9.").unwrap_or_default(),
                    max: 8,
                    words: Some(1),
                })
            } else {
                self.p.xml.attr(n, ns, local).copied()
            };
            match allowed {
                Some(rule) if rule.allows(value.as_bytes()) => {
                    self.st.kept += 1;
                    self.out.push(b' ');
                    self.out.extend_from_slice(key.as_ref());
                    self.out.extend_from_slice(b"=\"");
                    escape_attr(value.as_bytes(), self.out);
                    self.out.push(b'"');
                }
                _ => self.st.removed += 1,
            }
        }
        self.out.extend_from_slice(if empty { b"/>" } else { b">" });
        Ok(())
    }

    fn collect_refs(&mut self, e: &BytesStart<'_>) {
        for a in e.attributes().with_checks(false).flatten() {
            let local = a.key.local_name();
            if REF_ATTRS.contains(&local.as_ref()) {
                if let Ok(v) = a.unescape_value() {
                    for id in v.split_ascii_whitespace() {
                        self.removed_refs
                            .insert(id.trim_start_matches('#').as_bytes().to_vec());
                    }
                }
            }
        }
    }

    fn end(&mut self, before: usize, after: usize) {
        let depth = self.stack.len();
        let f = self.stack.pop();
        if let Some(s) = self.skip {
            if depth - 1 == s {
                self.skip = None;
            }
            return;
        }
        let Some(f) = f else { return };
        let Some(n) = f.node else { return };
        let end_tag = &self.raw[before..after];
        match &self.p.xml.nodes[n].kind {
            NodeKind::Container => self.out.extend_from_slice(end_tag),
            kind @ (NodeKind::Value(_) | NodeKind::Base64 { .. }) => {
                // A value with markup inside, or outside its rule, is not
                // forwarded at all (not even as an empty element).
                let allowed = match kind {
                    NodeKind::Value(rule) => rule.allows(trim(&f.text)),
                    NodeKind::Base64 { max } => NodeKind::base64_allows(&f.text, *max),
                    _ => false,
                };
                if !f.had_child && allowed {
                    self.st.kept += 1;
                    self.out.extend_from_slice(&f.start_tag);
                    match f.plain.filter(|_| f.pieces == 1) {
                        Some((s, e)) => self.out.extend_from_slice(&self.raw[s..e]),
                        None => escape_into(&f.text, self.out),
                    }
                    self.out.extend_from_slice(end_tag);
                } else {
                    self.st.kept -= 1;
                    self.st.removed += 1;
                }
            }
            NodeKind::Legacy => {
                let mut projected = Vec::with_capacity(f.text.len());
                // An unlabelled leading value only at the start of the first
                // free text of the message.
                let lead = !std::mem::replace(&mut self.legacy_seen, true);
                let st = legacy::project_with(&f.text, &self.p.legacy, lead, &mut projected);
                self.st.kept += st.kept;
                self.st.removed += st.removed;
                self.out.extend_from_slice(&f.start_tag);
                escape_into(&projected, self.out);
                self.out.extend_from_slice(end_tag);
            }
        }
    }

    fn add_text(&mut self, raw_bytes: &[u8], logical: &[u8], plain: Option<(usize, usize)>) {
        if self.skip.is_some() {
            return;
        }
        let pending = self
            .stack
            .last()
            .and_then(|f| f.node)
            .is_some_and(|n| self.p.xml.nodes[n].kind != NodeKind::Container);
        if pending {
            if let Some(f) = self.stack.last_mut() {
                f.pieces += 1;
                f.plain = plain;
                match plain {
                    // Plain text has no references (the parse refused a bare '&').
                    Some((s, e)) => f.text.extend_from_slice(&self.raw[s..e]),
                    None => f.text.extend_from_slice(logical),
                }
            }
            return;
        }
        let t = &mut self.text;
        if t.events == 0 {
            t.only_ws = true;
            t.plain = plain;
            t.nonblank = false;
        } else {
            t.plain = None;
        }
        t.events += 1;
        t.only_ws &= raw_bytes.iter().all(|&b| is_ws(b)) && plain.is_some();
        t.nonblank |= !trim(logical).is_empty() || !trim(raw_bytes).is_empty();
    }

    /// Text between elements (and outside the root): whitespace only is
    /// written; anything else is not.
    fn flush_text(&mut self) {
        if self.text.events == 0 {
            return;
        }
        self.text.events = 0;
        if self.text.only_ws {
            if let Some((s, e)) = self.text.plain {
                self.out.extend_from_slice(&self.raw[s..e]);
            }
        } else if self.text.nonblank {
            self.st.removed += 1;
        }
    }
}

/// The header's start tag: namespace declarations of the Nlets namespaces only.
fn header_start_ok(e: &BytesStart<'_>) -> Result<(), XmlRefusal> {
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|_| XmlRefusal::Syntax)?;
        let known = a.value.as_ref() == NS_N2 || a.value.as_ref() == NS_NH2;
        if a.key.as_namespace_binding().is_none() || !known {
            return Err(XmlRefusal::Header);
        }
    }
    Ok(())
}

/// The namespace URI and local name of an element (None when a prefix is
/// undeclared, which the validating parse already refused).
fn resolved<'x>(r: &'x NsReader<&[u8]>, e: &'x BytesStart<'_>) -> Option<(&'x [u8], &'x [u8])> {
    let (res, local) = r.resolve_element(e.name());
    let ns: &[u8] = match res {
        ResolveResult::Bound(n) => n.into_inner(),
        ResolveResult::Unbound => b"",
        ResolveResult::Unknown(_) => return None,
    };
    Some((ns, local.into_inner()))
}

fn escape_attr(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        match b {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" xmlns:s="http://niem.gov/niem/structures/2.0" n2:version="4.00" foo="POB MX">"#;
    const HDR: &str = "<n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>DCFBI0000</nh2:DestinationORIID></n2:NLETSMessageHeader>";

    fn run(hdr: &str, body: &str) -> Result<String, XmlRefusal> {
        let doc =
            format!("{ROOT}{hdr}<n2:NLETSResponseData>{body}</n2:NLETSResponseData></n2:NLETS>");
        let mut out = Vec::new();
        project(doc.as_bytes(), &Profile::builtin(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn keeps_only_what_the_profile_names() {
        let out = run(
            HDR,
            r#"<n2:Person s:id="P1" x="1"><nc:PersonName><nc:PersonSurName>DOE</nc:PersonSurName><nc:PersonBirthName>X</nc:PersonBirthName></nc:PersonName><nc:PersonBirthLocation><nc:LocationAddress>MEXICO</nc:LocationAddress></nc:PersonBirthLocation><!-- POB MX --><nc:PersonSexCode>f</nc:PersonSexCode></n2:Person><Photo>/9j/4AAQ</Photo>"#,
        )
        .unwrap();
        // A value outside its rule (lower-case "f") is not forwarded at all.
        assert!(out.contains("<n2:Person><nc:PersonName><nc:PersonSurName>DOE</nc:PersonSurName></nc:PersonName></n2:Person>"), "{out}");
        // Root: only the version attribute and declarations of known namespaces.
        assert!(out.starts_with(r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0" xmlns:nc="http://niem.gov/niem/niem-core/2.0" n2:version="4.00">"#), "{out}");
        assert!(out.contains(HDR));
        for gone in ["MEXICO", "POB", "Photo", "BirthName", "s:id", "foo="] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
    }

    #[test]
    fn free_text_is_projected_as_legacy() {
        let out = run(
            HDR,
            "<n2:ResponseText><![CDATA[DOE, JANE  DOB/19800115 SEX/F\r\nPOB/MX]]>&#10;BORN IN MX</n2:ResponseText>",
        )
        .unwrap();
        assert!(
            out.contains("<n2:ResponseText>DOE, JANE  DOB/19800115 SEX/F\r\n</n2:ResponseText>"),
            "{out}"
        );
    }

    #[test]
    fn markup_inside_values_and_free_text_separates_or_drops() {
        // Text on both sides of removed markup is not glued together.
        let out = run(
            HDR,
            "<n2:ResponseText>OLN/000000000<x:b xmlns:x=\"urn:x\"/>MEXICO  SEX/F</n2:ResponseText><n2:ResponseText>MEXICO  DOB/19800115</n2:ResponseText>",
        )
        .unwrap();
        assert!(
            out.contains("<n2:ResponseText>OLN/000000000\nSEX/F</n2:ResponseText>"),
            "{out}"
        );
        // The unlabelled leading value only once per message.
        assert!(
            out.contains("<n2:ResponseText>DOB/19800115</n2:ResponseText>"),
            "{out}"
        );
        // A value with markup inside is not forwarded.
        let out = run(
            HDR,
            "<n2:Person><nc:PersonName><nc:PersonSurName>DOE<x:b xmlns:x=\"urn:x\"/>MEXICO</nc:PersonSurName></nc:PersonName></n2:Person>",
        )
        .unwrap();
        assert!(!out.contains("DOE") && !out.contains("MEXICO"), "{out}");
    }

    #[test]
    fn refusals() {
        // Removed content refers to an element that would be kept.
        let body = r#"<n2:Person s:id="L1"><nc:PersonSexCode>F</nc:PersonSexCode></n2:Person><nc:PersonBirthLocation s:ref="L1"/>"#;
        assert_eq!(run(HDR, body), Err(XmlRefusal::Reference));
        // Anything but plain header elements in the header.
        for hdr in [
            HDR.replace(
                "</nh2:MessageKeyCodeText>",
                "</nh2:MessageKeyCodeText><!-- POB MX -->",
            ),
            HDR.replace(
                "</nh2:MessageKeyCodeText>",
                "</nh2:MessageKeyCodeText><nc:PersonBirthLocation>MX</nc:PersonBirthLocation>",
            ),
            HDR.replace("<nh2:OriginatingORIID>", "<nh2:OriginatingORIID x=\"MX\">"),
            HDR.replace(
                "<n2:NLETSMessageHeader>",
                "<n2:NLETSMessageHeader note=\"POB MX\">",
            ),
            HDR.replace(
                "<n2:NLETSMessageHeader>",
                "<n2:NLETSMessageHeader xmlns:z=\"urn:pob:MEXICO\">",
            ),
            HDR.replace(
                "</nh2:OriginatingORIID>",
                "</nh2:OriginatingORIID><nh2:MessageSendDate>MEXICO</nh2:MessageSendDate>",
            ),
        ] {
            assert_eq!(run(&hdr, ""), Err(XmlRefusal::Header), "{hdr}");
        }
    }
}
