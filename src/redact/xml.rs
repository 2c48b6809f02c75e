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
use super::profile::{NodeKind, Profile, ValueRule};
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

/// Header elements that carry only plain values.
const HEADER_ELEMENTS: &[(&[u8], &str)] = &[
    (b"MessageKeyCodeText", "A-Z0-9"),
    (b"OriginatingORIID", "A-Z0-9"),
    (b"DestinationORIID", "A-Z0-9"),
    (b"DocumentControlFieldText", " -~"),
    (b"MessageReceiveDate", "0-9/"),
    (b"MessageReceiveTime", "0-9:"),
    (b"MessageSendDate", "0-9/"),
    (b"MessageSendTime", "0-9:"),
    (b"ReceiveMessageNumeric", "0-9"),
    (b"SendMessageNumeric", "0-9"),
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

struct Frame {
    /// Profile node when the element is written.
    node: Option<usize>,
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
}

#[derive(Default)]
struct TextRun {
    events: usize,
    plain: Option<(usize, usize)>,
    logical: Vec<u8>,
    only_ws: bool,
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
                        self.in_header = true;
                        header_start = before;
                        self.stack.push(Frame { node: None });
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
                let known = ns == NS_NH2 && HEADER_ELEMENTS.iter().any(|(l, _)| *l == local);
                if !known || e.attributes().next().is_some() {
                    return Err(XmlRefusal::Header);
                }
                self.stack.push(Frame { node: None });
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
                    t.iter().all(|&b| (0x20..0x7f).contains(&b) || is_ws(b))
                };
                if ok {
                    Ok(false)
                } else {
                    Err(XmlRefusal::Header)
                }
            }
            Event::CData(c) if self.stack.len() == 3 => {
                if c.iter().all(|&b| (0x20..0x7f).contains(&b)) {
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
        match node {
            Some(n) => {
                self.st.kept += 1;
                self.write_start(r, e, n, empty)?;
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
            self.stack.push(Frame { node });
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
        if f.is_some_and(|f| f.node.is_some()) {
            self.out.extend_from_slice(&self.raw[before..after]);
        }
    }

    fn add_text(&mut self, raw_bytes: &[u8], logical: &[u8], plain: Option<(usize, usize)>) {
        if self.skip.is_some() {
            return;
        }
        let t = &mut self.text;
        if t.events == 0 {
            t.logical.clear();
            t.only_ws = true;
            t.plain = plain;
        } else {
            t.plain = None;
        }
        t.events += 1;
        t.only_ws &= raw_bytes.iter().all(|&b| is_ws(b)) && plain.is_some();
        if let Some((s, e)) = plain {
            // Plain text has no references (the parse refused a bare '&').
            t.logical.extend_from_slice(&self.raw[s..e]);
        } else {
            t.logical.extend_from_slice(logical);
        }
    }

    fn flush_text(&mut self) {
        if self.text.events == 0 {
            return;
        }
        self.text.events = 0;
        let node = self.stack.last().and_then(|f| f.node);
        let logical = std::mem::take(&mut self.text.logical);
        let only_ws = self.text.only_ws;
        let plain = self.text.plain;
        let kind = node.map(|n| self.p.xml.nodes[n].kind.clone());
        match kind {
            // Between elements (and outside the root): whitespace only.
            None | Some(NodeKind::Container) => {
                if only_ws {
                    if let Some((s, e)) = plain {
                        self.out.extend_from_slice(&self.raw[s..e]);
                    }
                } else if !trim(&logical).is_empty() {
                    self.st.removed += 1;
                }
            }
            Some(NodeKind::Value(rule)) => {
                let v = trim(&logical);
                if rule.allows(v) {
                    self.st.kept += 1;
                    match plain {
                        Some((s, e)) => self.out.extend_from_slice(&self.raw[s..e]),
                        None => escape_into(&logical, self.out),
                    }
                } else {
                    self.st.removed += 1;
                }
            }
            Some(NodeKind::Legacy) => {
                let mut projected = Vec::with_capacity(logical.len());
                let s = legacy::project(&logical, &self.p.legacy, &mut projected);
                self.st.kept += s.kept;
                self.st.removed += s.removed;
                escape_into(&projected, self.out);
            }
        }
        self.text.logical = logical;
    }
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
