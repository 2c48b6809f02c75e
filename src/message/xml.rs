//! NIEM XML messages: one streaming walk (quick-xml `NsReader`) that
//! validates the document, reads the `n2:NLETSMessageHeader`, finds protected
//! fields and — when asked — writes a redacted copy by copying the untouched
//! byte spans around what it removes.
//!
//! Elements are identified by namespace URI + local name, never by prefix.
//! DOCTYPE/DTDs and entities other than the five predefined ones are refused,
//! never expanded. Depth, attribute count, name length and text size are
//! bounded. Text rules (legacy `POB/` etc.) run on the *logical* text of each
//! text run — text, CDATA and references coalesced, comments and processing
//! instructions dropped — the same view a receiving terminal renders.

use super::fields::{Catalogue, FieldId, FieldSet};
use super::text;
use super::tiny::Tiny;
use super::types::{Control, Dests, ErrorCode, Limits, Mke, Ori, ParseError, MAX_CONTROL};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Namespace of the Nlets envelope (`n2`).
pub const NS_N2: &[u8] = b"http://www.nlets.org/niem/1.0";
/// Namespace of the Nlets header elements (`nh2`).
pub const NS_NH2: &[u8] = b"http://www.nlets.org/niem/nlets-hdr/1.0";

/// Header values read from `n2:NLETSMessageHeader`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XmlHeader {
    /// `nh2:MessageKeyCodeText`.
    pub mke: Mke,
    /// `nh2:OriginatingORIID`.
    pub originating: Ori,
    /// `nh2:DestinationORIID` (may repeat).
    pub dests: Dests,
    /// `nh2:DocumentControlFieldText`.
    pub control: Option<Control>,
}

/// Why a redaction was refused although the document parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An element looks like a protected one (same local name, other case or
    /// namespace): it cannot be removed or passed with certainty.
    Lookalike(FieldId),
    /// A protected field's text rule matches inside an attribute value.
    InAttribute(FieldId),
    /// A field's marker (e.g. embedded JPEG base64) is in free text.
    Marker(FieldId),
    /// Cutting text kept creating new matches.
    NoFixpoint(FieldId),
    /// A label with no value on its line (the value may follow elsewhere).
    EmptyValue(FieldId),
    /// A comment or processing instruction holds a field (e.g. a
    /// commented-out photo): it would be delivered as it is.
    InComment(FieldId),
}

/// Failure of a walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The bytes are not an acceptable Nlets XML message.
    Parse(ParseError),
    /// The message parsed but cannot be redacted with certainty.
    Refuse(Refusal),
}

impl From<ParseError> for Failure {
    fn from(e: ParseError) -> Self {
        Failure::Parse(e)
    }
}

/// What a walk found.
#[derive(Clone, Debug, Default)]
pub struct Walk {
    /// The header.
    pub header: XmlHeader,
    /// Protected fields present (in parse mode) — all of the catalogue.
    pub found: FieldSet,
    /// Fields removed (in redact mode).
    pub removed: FieldSet,
    /// True when the output differs from the input.
    pub changed: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum HdrField {
    Mke,
    Orig,
    Dest,
    Control,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RunKind {
    Text,
    CData,
    Other,
}

/// A text run: consecutive text, CDATA, references, comments and PIs.
struct Run {
    start: usize,
    end: usize,
    events: usize,
    first: RunKind,
    /// Content range of the first event (text or CDATA body).
    first_content: (usize, usize),
    /// Logical text, filled once the run is not a single plain event.
    logical: Vec<u8>,
    complex: bool,
    /// A reference, comment or processing instruction is part of the run.
    markup: bool,
    /// Text or CDATA events holding more than whitespace.
    nonblank: usize,
}

impl Run {
    fn new() -> Self {
        Run {
            start: 0,
            end: 0,
            events: 0,
            first: RunKind::Other,
            first_content: (0, 0),
            logical: Vec::new(),
            complex: false,
            markup: false,
            nonblank: 0,
        }
    }
}

fn perr(
    code: ErrorCode,
    offset: usize,
    what: impl Into<std::borrow::Cow<'static, str>>,
) -> Failure {
    Failure::Parse(ParseError::new(code, offset, what))
}

/// XML 1.0 `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn is_illegal_xml_byte(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'
}

/// Offset of the first C0 control character XML 1.0 forbids. Checks 64-byte
/// blocks without early exit (the compiler vectorises it) for any control
/// character but a line feed — two comparisons a byte, where the exact test
/// takes four — and locates the first forbidden one in a block that has
/// any (tabs and carriage returns are rare, so most blocks pass at once).
fn first_illegal_byte(raw: &[u8]) -> Option<usize> {
    let mut blocks = raw.chunks_exact(64);
    for (ci, chunk) in blocks.by_ref().enumerate() {
        let suspect = chunk
            .iter()
            .fold(false, |acc, &b| acc | ((b < 0x20) & (b != b'\n')));
        if suspect {
            if let Some(i) = chunk.iter().position(|&b| is_illegal_xml_byte(b)) {
                return Some(ci * 64 + i);
            }
        }
    }
    let base = raw.len() - blocks.remainder().len();
    blocks
        .remainder()
        .iter()
        .position(|&b| is_illegal_xml_byte(b))
        .map(|i| base + i)
}

/// Offset of the first U+FFFE (`EF BF BE`) in `raw`, or failing that of the
/// first U+FFFF (`EF BF BF`): one memchr pass over the lead byte.
fn noncharacter(raw: &[u8]) -> Option<usize> {
    let mut ffff = None;
    for i in memchr::memchr_iter(0xEF, raw) {
        match raw.get(i + 1..i + 3) {
            Some([0xBF, 0xBE]) => return Some(i),
            Some([0xBF, 0xBF]) => {
                ffff = ffff.or(Some(i));
            }
            _ => {}
        }
    }
    ffff
}

/// The first of `unexpected '&'` or `']]>'` a text event holds, in that
/// order of priority: one memchr pass for both.
fn bad_text(t: &[u8]) -> Option<&'static str> {
    let mut cdata_end = false;
    for i in memchr::memchr2_iter(b'&', b']', t) {
        if t[i] == b'&' {
            return Some("unexpected '&' in text");
        }
        cdata_end |= t.get(i + 1..i + 3) == Some(&b"]>"[..]);
    }
    cdata_end.then_some("']]>' in character data")
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e.max(s)]
}

struct Walker<'a, 'o> {
    raw: &'a [u8],
    cat: &'a Catalogue,
    limits: &'a Limits,
    remove: FieldSet,
    out: Option<&'o mut Vec<u8>>,
    copied: usize,
    depth: usize,
    root_seen: bool,
    root_closed: bool,
    header_seen: bool,
    header_depth: Option<usize>,
    hdr_open: Option<HdrField>,
    /// Offset of the open header element (for errors).
    hdr_value_at: usize,
    /// True once the open header element had a value.
    hdr_value_set: bool,
    hdr_seen: [bool; 4],
    /// Depth at which a binary element (text rules off) was opened.
    binary_depth: Option<usize>,
    /// (start offset, depth, field) of an element being removed.
    skip: Option<(usize, usize, FieldId)>,
    run: Run,
    res: Walk,
    /// Stop once the header has been read.
    header_only: bool,
    /// Element children of the root seen so far (the header must be first).
    root_children: usize,
}

/// Element local names that carry routing: refused anywhere but their place.
const ROUTING_NAMES: &[&[u8]] = &[
    b"NLETS",
    b"NLETSMessageHeader",
    b"MessageKeyCodeText",
    b"OriginatingORIID",
    b"DestinationORIID",
    b"DocumentControlFieldText",
];

/// Walks an XML message. With `remove` non-empty and `out` given, writes the
/// message without those fields to `out` (only when something changed; check
/// [`Walk::changed`]).
pub fn walk(
    raw: &[u8],
    cat: &Catalogue,
    limits: &Limits,
    remove: FieldSet,
    out: Option<&mut Vec<u8>>,
) -> Result<Walk, Failure> {
    walk_inner(raw, cat, limits, remove, out, false)
}

/// Reads only the envelope and the header, stopping at the end of
/// `n2:NLETSMessageHeader`: the body is neither validated nor scanned (no
/// text rules or attribute scans at all; protected elements met before the
/// header ends are still recorded in [`Walk::found`]). For routing decisions
/// where the policy does not need the body checked.
pub fn walk_header(raw: &[u8], cat: &Catalogue, limits: &Limits) -> Result<Walk, Failure> {
    walk_inner(raw, cat, limits, FieldSet::EMPTY, None, true)
}

fn walk_inner(
    raw: &[u8],
    cat: &Catalogue,
    limits: &Limits,
    remove: FieldSet,
    out: Option<&mut Vec<u8>>,
    header_only: bool,
) -> Result<Walk, Failure> {
    if header_only {
        // Header values are checked as printable ASCII when read.
    } else if let Err(e) = simdutf8::compat::from_utf8(raw) {
        return Err(perr(
            ErrorCode::Encoding,
            e.valid_up_to(),
            "not valid UTF-8",
        ));
    }
    // U+FFFE and U+FFFF are valid UTF-8 but not XML characters (found by
    // the routing fuzzer: conforming parsers refuse the document).
    let nonchar = noncharacter(raw);
    if let Some(i) = nonchar.filter(|_| !header_only) {
        return Err(perr(
            ErrorCode::Encoding,
            i,
            "U+FFFE or U+FFFF is not an XML character",
        ));
    }
    if let Some(i) = (!header_only).then(|| first_illegal_byte(raw)).flatten() {
        return Err(perr(
            ErrorCode::Encoding,
            i,
            "control character not allowed in XML 1.0",
        ));
    }
    let mut w = Walker {
        raw,
        cat,
        limits,
        remove,
        out,
        copied: 0,
        depth: 0,
        root_seen: false,
        root_closed: false,
        header_seen: false,
        header_depth: None,
        hdr_open: None,
        hdr_value_at: 0,
        hdr_value_set: false,
        hdr_seen: [false; 4],
        binary_depth: None,
        skip: None,
        run: Run::new(),
        res: Walk::default(),
        header_only,
        root_children: 0,
    };
    w.go()?;
    if w.res.changed {
        if let Some(out) = w.out.as_deref_mut() {
            out.extend_from_slice(&raw[w.copied..]);
        }
    }
    Ok(w.res)
}

impl<'a, 'o> Walker<'a, 'o> {
    // Long: one match over every quick-xml event kind, each arm short (split by event, not kept apart).
    fn go(&mut self) -> Result<(), Failure> {
        let body = self.raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(self.raw);
        let base = self.raw.len() - body.len();
        let mut r = NsReader::from_reader(body);
        {
            let c = r.config_mut();
            c.check_end_names = true;
            c.check_comments = true;
            c.expand_empty_elements = false;
            c.trim_text(false);
        }
        let mut first_event = true;
        loop {
            let before = base + r.buffer_position() as usize;
            let ev = match r.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    return Err(perr(
                        ErrorCode::XmlSyntax,
                        base + r.error_position() as usize,
                        format!("XML syntax: {e}"),
                    ))
                }
            };
            let after = base + r.buffer_position() as usize;
            match ev {
                Event::Decl(d) => {
                    if !decl_well_formed(&self.raw[before..after]) {
                        return Err(perr(
                            ErrorCode::XmlSyntax,
                            before,
                            "malformed XML declaration",
                        ));
                    }
                    self.decl(&d, before, first_event)?
                }
                Event::DocType(dt) => self.doctype(&dt, before)?,
                Event::Start(e) => {
                    self.flush_run()?;
                    self.start(&r, &e, before, after, false)?;
                }
                Event::Empty(e) => {
                    self.flush_run()?;
                    self.start(&r, &e, before, after, true)?;
                }
                Event::End(_) => {
                    self.flush_run()?;
                    self.end(after)?;
                    if self.header_only && self.header_seen && self.header_depth.is_none() {
                        break;
                    }
                }
                Event::Text(t) => {
                    // XML 1.0 character data never holds "]]>" (a conforming
                    // parser rejects the document; so do we).
                    if let Some(what) = bad_text(&t) {
                        return Err(perr(ErrorCode::XmlSyntax, before, what));
                    }
                    if self.depth == 0 {
                        if !t.iter().all(|b| b.is_ascii_whitespace()) {
                            let what = if self.root_closed {
                                "content after the root element"
                            } else {
                                "text before the root element"
                            };
                            return Err(perr(ErrorCode::XmlStructure, before, what));
                        }
                    } else {
                        self.extend_run(RunKind::Text, before, after, (before, after))?;
                    }
                }
                Event::CData(_) => {
                    if self.depth == 0 {
                        return Err(perr(
                            ErrorCode::XmlStructure,
                            before,
                            "CDATA outside the root element",
                        ));
                    }
                    self.extend_run(RunKind::CData, before, after, (before + 9, after - 3))?;
                }
                Event::GeneralRef(g) => self.general_ref(&g, before, after)?,
                Event::Comment(_) | Event::PI(_) => {
                    if let Event::PI(pi) = &ev {
                        pi_target(pi.target(), before)?;
                    }
                    self.comment(before, after)?;
                    if self.depth > 0 {
                        self.extend_run(RunKind::Other, before, after, (0, 0))?;
                    }
                }
                Event::Eof => {
                    self.flush_run()?;
                    if !self.root_seen {
                        return Err(perr(ErrorCode::XmlStructure, before, "no root element"));
                    }
                    if self.depth != 0 {
                        return Err(perr(
                            ErrorCode::XmlSyntax,
                            before,
                            "document ends inside an element",
                        ));
                    }
                    break;
                }
            }
            first_event = false;
        }
        self.finish_header()
    }

    /// The XML declaration: first, version 1.0, standalone yes or no, and an
    /// encoding that reads the same as UTF-8 for this document.
    fn decl(
        &self,
        d: &quick_xml::events::BytesDecl<'_>,
        before: usize,
        first_event: bool,
    ) -> Result<(), Failure> {
        if !first_event {
            return Err(perr(
                ErrorCode::XmlSyntax,
                before,
                "XML declaration not at the start",
            ));
        }
        if !d.version().is_ok_and(|v| v.as_ref() == b"1.0") {
            return Err(perr(
                ErrorCode::XmlStructure,
                before,
                "the XML declaration must give version 1.0",
            ));
        }
        if let Some(sa) = d.standalone() {
            let ok = sa
                .as_ref()
                .is_ok_and(|v| v.as_ref() == b"yes" || v.as_ref() == b"no");
            if !ok {
                return Err(perr(
                    ErrorCode::XmlStructure,
                    before,
                    "standalone must be yes or no",
                ));
            }
        }
        if let Some(enc) = d.encoding() {
            // A Latin-1 declaration reads the same as UTF-8 only
            // when every byte is ASCII: accept exactly that case.
            let ok = enc.as_ref().is_ok_and(|e| {
                e.eq_ignore_ascii_case(b"utf-8")
                    || e.eq_ignore_ascii_case(b"us-ascii")
                    || ((e.eq_ignore_ascii_case(b"iso-8859-1")
                        || e.eq_ignore_ascii_case(b"latin1"))
                        && self.raw.is_ascii())
            });
            if !ok {
                return Err(perr(
                    ErrorCode::Encoding,
                    before,
                    "declared encoding is not UTF-8",
                ));
            }
        }
        Ok(())
    }

    /// A DOCTYPE: only the bare `<!DOCTYPE name>` before the root.
    fn doctype(&self, dt: &[u8], before: usize) -> Result<(), Failure> {
        // `<!DOCTYPE name>` alone declares nothing any reader could
        // act on; an internal subset or an external identifier
        // could (entities, default attributes): refused.
        let t = trim(dt);
        let bare = !self.root_seen
            && self.raw[before..].starts_with(b"<!DOCTYPE")
            && !t.is_empty()
            && t.iter().all(|&b| {
                b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'-' || b == b'.'
            });
        if !bare {
            return Err(perr(
                ErrorCode::XmlDtd,
                before,
                "DOCTYPE with an internal subset or external identifier refused",
            ));
        }
        Ok(())
    }

    /// A character or predefined entity reference in text.
    fn general_ref(
        &mut self,
        g: &quick_xml::events::BytesRef<'_>,
        before: usize,
        after: usize,
    ) -> Result<(), Failure> {
        if self.depth == 0 {
            return Err(perr(
                ErrorCode::XmlStructure,
                before,
                "reference outside the root element",
            ));
        }
        let ch = if g.is_char_ref() {
            match g.resolve_char_ref() {
                Ok(Some(c)) => c,
                _ => {
                    return Err(perr(
                        ErrorCode::XmlEntity,
                        before,
                        "invalid character reference",
                    ))
                }
            }
        } else {
            match &g[..] {
                b"lt" => '<',
                b"gt" => '>',
                b"amp" => '&',
                b"apos" => '\'',
                b"quot" => '"',
                _ => {
                    return Err(perr(
                        ErrorCode::XmlEntity,
                        before,
                        "undefined entity reference",
                    ))
                }
            }
        };
        if !is_xml_char(ch) {
            return Err(perr(
                ErrorCode::Encoding,
                before,
                "reference to a character not allowed in XML 1.0",
            ));
        }
        self.extend_run(RunKind::Other, before, after, (0, 0))?;
        if self.run.complex {
            let mut b = [0u8; 4];
            self.run
                .logical
                .extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
        }
        Ok(())
    }

    /// Comments and processing instructions are delivered as they are, so
    /// their bodies are checked like text (a "commented-out" photo is still
    /// a photo); a field there cannot be cut with certainty.
    fn comment(&mut self, before: usize, after: usize) -> Result<(), Failure> {
        if self.skip.is_some() || self.header_only {
            return Ok(());
        }
        let body = &self.raw[before..after];
        let fields = if self.remove.is_empty() {
            self.cat.all()
        } else {
            self.remove
        };
        let found = text::present(self.cat, fields, body).union(
            self.cat
                .names_in_text(fields, body)
                .map_or(FieldSet::EMPTY, |f| {
                    let mut s = FieldSet::EMPTY;
                    s.insert(f);
                    s
                }),
        );
        self.res.found = self.res.found.union(found);
        match found.intersect(self.remove).iter().next() {
            Some(f) => Err(Failure::Refuse(Refusal::InComment(f))),
            None => Ok(()),
        }
    }

    fn finish_header(&mut self) -> Result<(), Failure> {
        if !self.header_seen {
            return Err(perr(ErrorCode::XmlHeader, 0, "no n2:NLETSMessageHeader"));
        }
        let h = &self.res.header;
        if h.mke.is_empty() {
            return Err(perr(
                ErrorCode::XmlHeader,
                0,
                "header has no nh2:MessageKeyCodeText",
            ));
        }
        if h.originating.is_empty() {
            return Err(perr(
                ErrorCode::XmlHeader,
                0,
                "header has no nh2:OriginatingORIID",
            ));
        }
        if h.dests.is_empty() {
            return Err(perr(
                ErrorCode::XmlHeader,
                0,
                "header has no nh2:DestinationORIID",
            ));
        }
        Ok(())
    }

    // Long: the per-element rules in the order the spec states them (header, routing names, depth, fields).
    fn start(
        &mut self,
        r: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        before: usize,
        after: usize,
        empty: bool,
    ) -> Result<(), Failure> {
        let qname = e.name();
        if qname.as_ref().len() > self.limits.max_name {
            return Err(perr(ErrorCode::XmlLimit, before, "element name too long"));
        }
        // quick-xml is lax where conforming parsers are strict; refuse what
        // they refuse, so every reader sees the same document.
        if !valid_qname(qname.as_ref()) {
            return Err(perr(
                ErrorCode::XmlSyntax,
                before,
                "element name is not a valid XML name",
            ));
        }
        // Elements may not use the reserved prefixes (found by the routing
        // fuzzer: `<xml:x/>` was read).
        if qname.as_ref().starts_with(b"xml:") || qname.as_ref().starts_with(b"xmlns:") {
            return Err(perr(
                ErrorCode::XmlNamespace,
                before,
                "the xml and xmlns prefixes are reserved for attributes",
            ));
        }
        if !start_tag_well_formed(&self.raw[before..after]) {
            return Err(perr(
                ErrorCode::XmlSyntax,
                before,
                "attributes not separated by white space, or '<' in an attribute value",
            ));
        }
        if self.depth + 1 > self.limits.max_depth {
            return Err(perr(
                ErrorCode::XmlLimit,
                before,
                "elements nested too deeply",
            ));
        }
        if self.root_closed {
            return Err(perr(ErrorCode::XmlStructure, before, "second root element"));
        }
        if self.hdr_open.is_some() {
            return Err(perr(
                ErrorCode::XmlHeader,
                before,
                "element inside a header value",
            ));
        }
        let (res, local) = r.resolve_element(qname);
        let ns: &[u8] = match res {
            ResolveResult::Bound(n) => n.into_inner(),
            ResolveResult::Unbound => b"",
            ResolveResult::Unknown(_) => {
                return Err(perr(
                    ErrorCode::XmlNamespace,
                    before,
                    "undeclared namespace prefix",
                ))
            }
        };
        let local = local.into_inner();
        if self.skip.is_some() {
            self.attributes(r, e, before, false)?;
            if !empty {
                self.depth += 1;
            }
            return Ok(());
        }

        // Envelope and header structure.
        if self.depth == 0 {
            if ns != NS_N2 || local != b"NLETS" {
                return Err(perr(
                    ErrorCode::XmlStructure,
                    before,
                    "root element is not n2:NLETS",
                ));
            }
            self.root_seen = true;
        } else if ns == NS_N2 && local == b"NLETSMessageHeader" {
            if self.depth != 1 || self.header_seen || self.root_children > 0 {
                return Err(perr(
                    ErrorCode::XmlStructure,
                    before,
                    "misplaced or repeated n2:NLETSMessageHeader",
                ));
            }
            self.header_seen = true;
            if !empty {
                self.header_depth = Some(self.depth + 1);
            }
        } else if self.header_depth == Some(self.depth) && ns == NS_NH2 {
            let f = match local {
                b"MessageKeyCodeText" => Some(HdrField::Mke),
                b"OriginatingORIID" => Some(HdrField::Orig),
                b"DestinationORIID" => Some(HdrField::Dest),
                b"DocumentControlFieldText" => Some(HdrField::Control),
                _ => None,
            };
            if let Some(f) = f {
                let idx = f as usize;
                if self.hdr_seen[idx] {
                    return Err(perr(
                        ErrorCode::XmlHeader,
                        before,
                        "repeated header element",
                    ));
                }
                self.hdr_seen[idx] = true;
                if empty {
                    return Err(perr(ErrorCode::XmlHeader, before, "empty header element"));
                }
                self.hdr_open = Some(f);
                self.hdr_value_at = before;
                self.hdr_value_set = false;
            }
        }

        if self.depth == 1 {
            self.root_children += 1;
        }
        // A routing element name anywhere else (any namespace) could be read
        // as routing by a reader that ignores namespaces: refuse.
        let in_place = self.depth == 0
            || (self.depth == 1 && ns == NS_N2 && local == b"NLETSMessageHeader")
            || (self.header_depth == Some(self.depth) && ns == NS_NH2);
        if !in_place && ROUTING_NAMES.contains(&local) {
            return Err(perr(
                ErrorCode::XmlHeader,
                before,
                "a routing element name outside the header",
            ));
        }
        // Protected elements: everywhere, the header included.
        let mut removing = false;
        if let Some(f) = self.cat.element(ns, local) {
            self.res.found.insert(f);
            if self.remove.contains(f) {
                removing = true;
                if empty {
                    self.cut(before, after, f);
                } else {
                    self.skip = Some((before, self.depth + 1, f));
                }
            } else if !empty && self.binary_depth.is_none() && self.cat.binary(ns, local).is_some()
            {
                self.binary_depth = Some(self.depth + 1);
            }
        } else if let Some(f) = self.cat.lookalike(local).or_else(|| {
            self.cat.label_name(
                if self.remove.is_empty() {
                    self.cat.all()
                } else {
                    self.remove
                },
                local,
            )
        }) {
            self.res.found.insert(f);
            if self.remove.contains(f) {
                return Err(Failure::Refuse(Refusal::Lookalike(f)));
            }
        }
        self.attributes(r, e, before, !removing && !self.header_only)?;
        if !empty {
            self.depth += 1;
        }
        Ok(())
    }

    /// Validates attributes; when `scan`, applies the text rules to their values.
    // Long: each attribute's checks (name, namespace, value, text rules) in one pass, in spec order.
    fn attributes(
        &mut self,
        r: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        before: usize,
        scan: bool,
    ) -> Result<(), Failure> {
        let mut n = 0;
        let mut seen: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for a in e.attributes().with_checks(true) {
            let a = a.map_err(|err| {
                perr(
                    ErrorCode::XmlSyntax,
                    before,
                    format!("bad attribute: {err}"),
                )
            })?;
            n += 1;
            if !valid_qname(a.key.as_ref()) {
                return Err(perr(
                    ErrorCode::XmlSyntax,
                    before,
                    "attribute name is not a valid XML name",
                ));
            }
            if n > self.limits.max_attributes {
                return Err(perr(ErrorCode::XmlLimit, before, "too many attributes"));
            }
            let key = a.key;
            if key.as_ref().len() > self.limits.max_name {
                return Err(perr(ErrorCode::XmlLimit, before, "attribute name too long"));
            }
            if key.as_namespace_binding().is_none() {
                let (res, local) = r.resolve_attribute(key);
                let ns: &[u8] = match res {
                    ResolveResult::Unknown(_) => {
                        return Err(perr(
                            ErrorCode::XmlNamespace,
                            before,
                            "undeclared attribute prefix",
                        ))
                    }
                    ResolveResult::Bound(n) => n.into_inner(),
                    ResolveResult::Unbound => b"",
                };
                // Two attributes with one expanded name (via two prefixes of
                // one namespace) are not namespace-well-formed.
                let expanded = (ns.to_vec(), local.into_inner().to_vec());
                if seen.contains(&expanded) {
                    return Err(perr(
                        ErrorCode::XmlNamespace,
                        before,
                        "two attributes with the same namespace and name",
                    ));
                }
                seen.push(expanded);
            } else if is_reserved_binding(key.as_ref(), &a.value) {
                return Err(perr(
                    ErrorCode::XmlNamespace,
                    before,
                    "the xml and xmlns prefixes and namespaces cannot be rebound",
                ));
            } else if a.value.is_empty() && key.as_ref() != b"xmlns" {
                return Err(perr(
                    ErrorCode::XmlNamespace,
                    before,
                    "namespace prefix undeclaration (XML 1.1) refused",
                ));
            } else if a
                .value
                .iter()
                .any(|&b| b == b'&' || b == b'\t' || b == b'\n' || b == b'\r')
            {
                // A reference or a normalised blank makes the namespace name
                // differ from its raw bytes: refused, so that the namespace
                // compared here is the one every conforming reader resolves.
                return Err(perr(
                    ErrorCode::XmlNamespace,
                    before,
                    "reference or line break in a namespace name refused",
                ));
            }
            let value: std::borrow::Cow<'_, [u8]> = if memchr::memchr(b'&', &a.value).is_some() {
                let v = a.unescape_value().map_err(|_| {
                    perr(
                        ErrorCode::XmlEntity,
                        before,
                        "bad reference in attribute value",
                    )
                })?;
                if !v.chars().all(is_xml_char) {
                    return Err(perr(
                        ErrorCode::Encoding,
                        before,
                        "attribute references a character not allowed in XML 1.0",
                    ));
                }
                std::borrow::Cow::Owned(v.into_owned().into_bytes())
            } else {
                a.value
            };
            if scan {
                let fields = if self.remove.is_empty() {
                    self.cat.all()
                } else {
                    self.remove
                };
                if let Some(f) = self.cat.label_name(fields, key.local_name().as_ref()) {
                    self.res.found.insert(f);
                    if self.remove.contains(f) {
                        return Err(Failure::Refuse(Refusal::Lookalike(f)));
                    }
                }
            }
            if scan && !value.is_empty() {
                let found = text::present(self.cat, self.cat.all(), &value);
                self.res.found = self.res.found.union(found);
                if let Some(f) = found.intersect(self.remove).iter().next() {
                    return Err(Failure::Refuse(Refusal::InAttribute(f)));
                }
            }
        }
        Ok(())
    }

    fn end(&mut self, after: usize) -> Result<(), Failure> {
        let closing = self.depth;
        self.depth = self.depth.saturating_sub(1);
        if let Some((start, d, f)) = self.skip {
            if closing == d {
                self.skip = None;
                self.cut(start, after, f);
            }
            return Ok(());
        }
        if self.binary_depth == Some(closing) {
            self.binary_depth = None;
        }
        if self.header_depth == Some(closing) {
            self.header_depth = None;
        }
        if self.depth == 0 {
            self.root_closed = true;
        }
        if self.hdr_open.take().is_some() && !self.hdr_value_set {
            return Err(perr(
                ErrorCode::XmlHeader,
                self.hdr_value_at,
                "empty header element",
            ));
        }
        Ok(())
    }

    /// Removes `[start, end)` from the output.
    fn cut(&mut self, start: usize, end: usize, f: FieldId) {
        self.res.removed.insert(f);
        self.res.changed = true;
        if let Some(out) = self.out.as_deref_mut() {
            if out.capacity() == 0 {
                out.reserve(self.raw.len());
            }
            out.extend_from_slice(&self.raw[self.copied..start]);
        }
        self.copied = end;
    }

    fn extend_run(
        &mut self,
        kind: RunKind,
        before: usize,
        after: usize,
        content: (usize, usize),
    ) -> Result<(), Failure> {
        if self.skip.is_some() {
            return Ok(());
        }
        let run = &mut self.run;
        if run.events == 0 {
            run.start = before;
            run.first = kind;
            run.first_content = content;
            run.complex = kind == RunKind::Other;
            run.logical.clear();
            run.markup = false;
            run.nonblank = 0;
        } else if !run.complex {
            // A second event: switch to building the logical text.
            run.complex = true;
            run.logical.clear();
            let (s, e) = run.first_content;
            run.logical.extend_from_slice(&self.raw[s..e]);
        }
        run.events += 1;
        run.end = after;
        run.markup |= kind == RunKind::Other;
        if kind != RunKind::Other
            && self.raw[content.0..content.1]
                .iter()
                .any(|b| !b.is_ascii_whitespace())
        {
            run.nonblank += 1;
        }
        if run.end - run.start > self.limits.max_text {
            return Err(perr(ErrorCode::XmlLimit, before, "text run too large"));
        }
        if run.events > 1 && kind != RunKind::Other {
            let (s, e) = content;
            run.logical.extend_from_slice(&self.raw[s..e]);
        }
        Ok(())
    }

    fn flush_run(&mut self) -> Result<(), Failure> {
        if self.run.events == 0 {
            return Ok(());
        }
        self.run.events = 0;
        if self.skip.is_some() {
            return Ok(());
        }
        let complex = self.run.complex;
        let (cs, ce) = self.run.first_content;
        // Header values: read, never subject to text rules (the control
        // field must pass unchanged).
        if let Some(f) = self.hdr_open {
            let at = self.run.start;
            // One text or CDATA section: a value split by a comment, a
            // reference or a second section reads differently to readers
            // that take only the first text node.
            // (The control field is echoed, not routed on: references that
            // escape `<`, `&` or `]]>` are allowed there.)
            if f != HdrField::Control && (self.run.markup || self.run.nonblank > 1) {
                return Err(perr(
                    ErrorCode::XmlHeader,
                    at,
                    "a header value split by markup, references or several sections",
                ));
            }
            return if complex {
                let logical = std::mem::take(&mut self.run.logical);
                let r = self.header_value(f, trim(&logical), at);
                self.run.logical = logical;
                r
            } else {
                let raw = self.raw;
                self.header_value(f, trim(&raw[cs..ce]), at)
            };
        }
        // Binary content (base64 photo data) is not text; header-only walks
        // do not scan.
        if self.header_only
            || (self.binary_depth.is_some() && self.binary_depth == Some(self.depth))
        {
            return Ok(());
        }
        let (start, end) = (self.run.start, self.run.end);
        if !complex {
            let content = &self.raw[cs..ce];
            self.text_rules_simple(content, cs, ce)?;
        } else {
            let logical = std::mem::take(&mut self.run.logical);
            let r = self.text_rules_complex(&logical, start, end);
            self.run.logical = logical;
            r?;
        }
        Ok(())
    }

    fn text_rules_simple(
        &mut self,
        content: &'a [u8],
        cs: usize,
        ce: usize,
    ) -> Result<(), Failure> {
        if self.remove.is_empty() {
            let found = text::present(self.cat, self.cat.all(), content);
            self.res.found = self.res.found.union(found);
            return Ok(());
        }
        let marked = text::markers(self.cat, self.remove, content);
        if let Some(f) = marked.iter().next() {
            return Err(Failure::Refuse(Refusal::Marker(f)));
        }
        if text::find(self.cat, self.remove, content, 0).is_none() {
            return Ok(());
        }
        self.res.changed = true;
        let raw = self.raw;
        let copied = self.copied;
        let Some(out) = self.out.as_deref_mut() else {
            let mut sink = Vec::new();
            let removed =
                text::redact(self.cat, self.remove, content, &mut sink).map_err(refusal)?;
            self.res.removed = self.res.removed.union(removed);
            return Ok(());
        };
        if out.capacity() == 0 {
            out.reserve(raw.len());
        }
        out.extend_from_slice(&raw[copied..cs]);
        let removed = text::redact(self.cat, self.remove, content, out).map_err(refusal)?;
        self.res.removed = self.res.removed.union(removed);
        self.copied = ce;
        Ok(())
    }

    fn text_rules_complex(
        &mut self,
        logical: &[u8],
        start: usize,
        end: usize,
    ) -> Result<(), Failure> {
        if self.remove.is_empty() {
            let found = text::present(self.cat, self.cat.all(), logical);
            self.res.found = self.res.found.union(found);
            return Ok(());
        }
        let marked = text::markers(self.cat, self.remove, logical);
        if let Some(f) = marked.iter().next() {
            return Err(Failure::Refuse(Refusal::Marker(f)));
        }
        if text::find(self.cat, self.remove, logical, 0).is_none() {
            return Ok(());
        }
        let mut cleaned = Vec::with_capacity(logical.len());
        let removed =
            text::redact(self.cat, self.remove, logical, &mut cleaned).map_err(refusal)?;
        self.res.removed = self.res.removed.union(removed);
        self.res.changed = true;
        if let Some(out) = self.out.as_deref_mut() {
            if out.capacity() == 0 {
                out.reserve(self.raw.len());
            }
            out.extend_from_slice(&self.raw[self.copied..start]);
            escape_into(&cleaned, out);
        }
        self.copied = end;
        Ok(())
    }

    fn header_value(&mut self, f: HdrField, v: &[u8], at: usize) -> Result<(), Failure> {
        let bad = |what: &'static str| perr(ErrorCode::XmlHeader, at, what);
        if v.is_empty() {
            // Whitespace only (e.g. indentation): no value yet.
            return Ok(());
        }
        self.hdr_value_set = true;
        let h = &mut self.res.header;
        match f {
            HdrField::Mke => {
                if v.is_empty()
                    || v.len() > 4
                    || !v
                        .iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                {
                    return Err(bad("message key must be 1-4 characters A-Z 0-9"));
                }
                h.mke = Tiny::new(v).ok_or(bad("bad message key"))?;
            }
            HdrField::Orig => {
                if v.len() != 9
                    || !v
                        .iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                {
                    return Err(bad("originating ORI must be 9 characters A-Z 0-9"));
                }
                h.originating = Tiny::new(v).ok_or(bad("bad ORI"))?;
            }
            HdrField::Dest => {
                if (v.len() != 2 && v.len() != 9)
                    || !v
                        .iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                {
                    return Err(bad(
                        "destination must be a 2-character code or a 9-character ORI",
                    ));
                }
                let d = Tiny::new(v).ok_or(bad("bad destination"))?;
                if !h.dests.push(d) {
                    return Err(bad("more than 5 destinations"));
                }
            }
            HdrField::Control => {
                if v.len() > MAX_CONTROL {
                    return Err(bad("control field longer than 10 characters"));
                }
                h.control = Some(Tiny::new(v).ok_or(bad("control field must be printable ASCII"))?);
            }
        }
        Ok(())
    }
}

fn refusal(e: text::TextRefusal) -> Failure {
    match e {
        text::TextRefusal::Marker(f) => Failure::Refuse(Refusal::Marker(f)),
        text::TextRefusal::NoFixpoint(f) => Failure::Refuse(Refusal::NoFixpoint(f)),
        text::TextRefusal::EmptyValue(f) => Failure::Refuse(Refusal::EmptyValue(f)),
    }
}

/// The XML declaration exactly as the grammar has it:
/// `<?xml S version Eq "1.0" (S encoding Eq "…")? (S standalone Eq "…")? S? ?>`
/// (found by the routing fuzzer: `<?xml version="1.0"]encoding=…?>` was read).
fn decl_well_formed(d: &[u8]) -> bool {
    let Some(mut r) = d.strip_prefix(b"<?xml").and_then(|r| r.strip_suffix(b"?>")) else {
        return false;
    };
    let ws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut names: &[&[u8]] = &[b"version", b"encoding", b"standalone"];
    let mut first = true;
    loop {
        let n = r.iter().take_while(|&&b| ws(b)).count();
        r = &r[n..];
        if r.is_empty() {
            return !first;
        }
        if n == 0 {
            return false;
        }
        let Some(pos) = names.iter().position(|nm| r.starts_with(nm)) else {
            return false;
        };
        if first && pos != 0 {
            return false;
        }
        r = &r[names[pos].len()..];
        names = &names[pos + 1..];
        first = false;
        let n = r.iter().take_while(|&&b| ws(b)).count();
        r = &r[n..];
        let Some(rest) = r.strip_prefix(b"=") else {
            return false;
        };
        let n = rest.iter().take_while(|&&b| ws(b)).count();
        r = &rest[n..];
        let Some(&q) = r.first().filter(|&&q| q == b'"' || q == b'\'') else {
            return false;
        };
        let Some(end) = memchr::memchr(q, &r[1..]) else {
            return false;
        };
        let v = &r[1..1 + end];
        if v.is_empty()
            || !v
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return false;
        }
        r = &r[end + 2..];
    }
}

/// A processing-instruction target: an XML Name, and not `xml` (found by
/// the routing fuzzer: `<?<?>` was accepted).
fn pi_target(t: &[u8], before: usize) -> Result<(), Failure> {
    let name_start = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b == b':';
    let name_char = |b: u8| name_start(b) || b.is_ascii_digit() || b == b'-' || b == b'.';
    let ok = t.first().is_some_and(|&b| name_start(b))
        && t.iter().all(|&b| name_char(b))
        && !t.eq_ignore_ascii_case(b"xml");
    if ok {
        Ok(())
    } else {
        Err(perr(
            ErrorCode::XmlSyntax,
            before,
            "bad processing instruction target",
        ))
    }
}

/// A namespace declaration that XML forbids: declaring the `xmlns` prefix,
/// binding `xml` to another namespace, or any prefix to the `xml` or
/// `xmlns` namespace.
fn is_reserved_binding(key: &[u8], value: &[u8]) -> bool {
    const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
    const XMLNS_NS: &[u8] = b"http://www.w3.org/2000/xmlns/";
    match key {
        b"xmlns:xmlns" => true,
        b"xmlns:xml" => value != XML_NS,
        _ => value == XML_NS || value == XMLNS_NS,
    }
}

/// An XML QName: an NCName, optionally `prefix:` another, in ASCII only.
/// Nlets and NIEM names are ASCII; parsers disagree on which non-ASCII
/// characters a name may hold (the routing fuzzer found U+FEFF and private-use
/// characters read differently), so non-ASCII names are refused.
fn valid_qname(n: &[u8]) -> bool {
    // One pass: at most one colon, and each part non-empty, starting with a
    // letter or `_`, then letters, digits, `_`, `-` and `.`.
    let mut colon = false;
    let mut at_start = true;
    for &b in n {
        if b == b':' {
            if at_start || colon {
                return false;
            }
            colon = true;
            at_start = true;
            continue;
        }
        let c = NAME_CLASS[b as usize];
        if c == 0 || (at_start && c != NAME_START) {
            return false;
        }
        at_start = false;
    }
    !at_start
}

/// [`NAME_CLASS`] of a byte that may start a name part.
const NAME_START: u8 = 2;

/// For each byte: [`NAME_START`] for ASCII letters and `_`, 1 for digits,
/// `-` and `.` (name characters that cannot start one), 0 otherwise.
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_alphabetic() || b == b'_' {
            NAME_START
        } else if b.is_ascii_digit() || b == b'-' || b == b'.' {
            1
        } else {
            0
        };
        i += 1;
    }
    t
};

/// A start tag's raw bytes: every attribute value is quoted, holds no `<`,
/// and is followed by white space, `/` or `>`.
fn start_tag_well_formed(tag: &[u8]) -> bool {
    let mut i = 0;
    while i < tag.len() {
        let q = tag[i];
        if q == b'"' || q == b'\'' {
            let Some(len) = memchr::memchr(q, &tag[i + 1..]) else {
                return false;
            };
            let value = &tag[i + 1..i + 1 + len];
            if memchr::memchr(b'<', value).is_some() {
                return false;
            }
            i += len + 2;
            match tag.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>') => {}
                _ => return false,
            }
            continue;
        }
        i += 1;
    }
    true
}

/// Escapes text for element content.
pub fn escape_into(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The checks as they were: two memmem passes, then memchr and memmem.
    fn noncharacter_reference(raw: &[u8]) -> Option<usize> {
        memchr::memmem::find(raw, b"\xEF\xBF\xBE")
            .or_else(|| memchr::memmem::find(raw, b"\xEF\xBF\xBF"))
    }

    fn first_illegal_byte_reference(raw: &[u8]) -> Option<usize> {
        for (ci, chunk) in raw.chunks(64).enumerate() {
            let bad = chunk
                .iter()
                .fold(false, |acc, &b| acc | is_illegal_xml_byte(b));
            if bad {
                return chunk
                    .iter()
                    .position(|&b| is_illegal_xml_byte(b))
                    .map(|i| ci * 64 + i);
            }
        }
        None
    }

    fn valid_qname_reference(n: &[u8]) -> bool {
        let start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
        let part = |p: &[u8]| {
            p.first().is_some_and(|&b| start(b))
                && p.iter()
                    .all(|&b| start(b) || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        let mut it = n.splitn(3, |&b| b == b':');
        match (it.next(), it.next(), it.next()) {
            (Some(a), None, None) => part(a),
            (Some(a), Some(b), None) => part(a) && part(b),
            _ => false,
        }
    }

    fn bad_text_reference(t: &[u8]) -> Option<&'static str> {
        if memchr::memchr(b'&', t).is_some() {
            return Some("unexpected '&' in text");
        }
        memchr::memmem::find(t, b"]]>").map(|_| "']]>' in character data")
    }

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            4 => proptest::sample::select(vec![
                &b"\xEF\xBF\xBE"[..], b"\xEF\xBF\xBF", b"\xEF\xBF", b"\xEF", b"\xBF", b"\xBE",
                b"]]>", b"]]", b"]", b">", b"&", b"&amp;", b"a", b"ABC", b"\xE4\xB8\xAD",
                b"\n", b"\r\n", b"\t", b"\x00", b"\x1f", b"\x0b", b"\x7f", b" ",
                b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx",
            ])
            .prop_map(<[u8]>::to_vec),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ];
        prop_oneof![
            3 => proptest::collection::vec(piece.clone(), 0..40),
            1 => proptest::collection::vec(piece, 40..200),
        ]
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn one_pass_checks_same_as_reference(b in bytes()) {
            prop_assert_eq!(noncharacter(&b), noncharacter_reference(&b));
            prop_assert_eq!(first_illegal_byte(&b), first_illegal_byte_reference(&b));
            prop_assert_eq!(bad_text(&b), bad_text_reference(&b));
        }

        #[test]
        fn valid_qname_same_as_reference(
            n in proptest::collection::vec(
                prop_oneof![
                    6 => proptest::sample::select(b"aZ_:-.09 \xC3x".to_vec()),
                    1 => any::<u8>(),
                ],
                0..12,
            )
        ) {
            prop_assert_eq!(valid_qname(&n), valid_qname_reference(&n));
        }
    }

    #[test]
    fn one_pass_checks_examples() {
        for b in [
            &b""[..],
            b"\xEF\xBF\xBF x \xEF\xBF\xBE",
            b"\xEF\xBF",
            b"x\xEF\xBF\xBF",
            b"]]]>",
            b"]]> &",
            b"] ]>",
            b"]]",
        ] {
            assert_eq!(noncharacter(b), noncharacter_reference(b), "{b:?}");
            assert_eq!(bad_text(b), bad_text_reference(b), "{b:?}");
        }
        for n in [
            &b""[..],
            b":",
            b"a:",
            b":a",
            b"a:b",
            b"a:b:c",
            b"a::b",
            b"_x",
            b"-x",
            b"x-",
            b".x",
            b"9x",
            b"x9",
            b"nc:PersonName",
            b"n2:NLETS",
            b"a:9",
            b"a:_",
            b"\xC3\xA9",
        ] {
            assert_eq!(valid_qname(n), valid_qname_reference(n), "{n:?}");
        }
        // Every position and kind of control character in a base64 body.
        let body: Vec<u8> = (0..300u32)
            .map(|i| {
                if i % 77 == 76 {
                    b'\n'
                } else {
                    b'A' + (i % 26) as u8
                }
            })
            .collect();
        assert_eq!(first_illegal_byte(&body), None);
        for at in 0..body.len() {
            for c in [0u8, 8, 9, 10, 11, 13, 27, 31, 32, 127] {
                let mut b = body.clone();
                b[at] = c;
                assert_eq!(first_illegal_byte(&b), first_illegal_byte_reference(&b));
                assert_eq!(
                    first_illegal_byte(&b[..at + 1]),
                    first_illegal_byte_reference(&b[..at + 1])
                );
            }
        }
    }
}
