//! Release profiles: the positive model of what a restricted agency may
//! receive. A profile names, for legacy text, the field labels (with the
//! characters and length their values may have), the literal lines and an
//! optional unlabelled leading value; for NIEM XML, the elements by namespace
//! URI and local name *in context* (their path below the root), the
//! attributes each may carry and the values they may hold. Whatever a profile
//! does not name is not forwarded. See `specs/redaction.md`.
//!
//! Pure data and validation; the projection is in [`super::legacy`] and
//! [`super::xml`], the independent check in [`super::verify`].

use crate::message::fields::NIEM_CORE;
use crate::message::keys::KeySet;
use crate::message::xml::{NS_N2, NS_NH2};
use std::fmt;

/// The ASCII characters a value may hold (a 128-bit set). Non-ASCII bytes
/// are never allowed.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CharClass([u64; 2]);

/// Named classes, so profiles read as intent rather than character lists.
pub const NAMED_CLASSES: &[(&str, &str)] = &[
    ("name", "A-Z ,.'-"),
    ("digits", "0-9"),
    ("date", "0-9/-"),
    ("time", "0-9:"),
    ("code", "A-Z0-9"),
    ("alnum", "A-Z0-9 "),
    ("address", "A-Z0-9 ,.'#/-"),
    ("text", "A-Z0-9 ,.'#/()-"),
];

/// A release profile rule that cannot be built: a character class, a
/// pattern, or an element placed where it cannot be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A character class with no characters.
    #[error("empty character class")]
    EmptyClass,
    /// A character class with a character outside printable ASCII.
    #[error("character class {0:?}: only printable ASCII is allowed")]
    NotPrintable(String),
    /// A range mixing kinds or running backwards.
    #[error("character class {spec:?}: bad range {from}-{to}")]
    BadRange {
        /// The class as given.
        spec: String,
        /// First character of the range.
        from: char,
        /// Last character of the range.
        to: char,
    },
    /// A pattern that does not compile.
    #[error("pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as given.
        pattern: String,
        /// The regex compiler's reason.
        reason: String,
    },
    /// The same element given twice.
    #[error("element {0} is given twice")]
    ElementTwice(String),
    /// A value given to an element that has children.
    #[error("element {0} has child elements and cannot also hold a value")]
    ValueWithChildren(String),
    /// Children given to an element that holds a value.
    #[error("element {0} holds a value and cannot also have child elements")]
    ChildrenOfValue(String),
}

impl CharClass {
    /// The empty class.
    pub const EMPTY: CharClass = CharClass([0, 0]);

    /// Parses a named class (`name`, `digits`, ...) or a custom one: literal
    /// characters and `X-Y` ranges of letters or digits (`A-Z0-9 ,.'-`; a
    /// `-` at the end is literal). Only printable ASCII.
    pub fn parse(spec: &str) -> Result<CharClass, ProfileError> {
        if let Some((_, s)) = NAMED_CLASSES.iter().find(|(n, _)| *n == spec) {
            return CharClass::parse(s);
        }
        let b = spec.as_bytes();
        if b.is_empty() {
            return Err(ProfileError::EmptyClass);
        }
        let mut c = CharClass::EMPTY;
        let mut i = 0;
        while i < b.len() {
            let x = b[i];
            if !(0x20..0x7f).contains(&x) {
                return Err(ProfileError::NotPrintable(spec.to_string()));
            }
            if i + 2 < b.len() && b[i + 1] == b'-' && x.is_ascii_alphanumeric() {
                let y = b[i + 2];
                let same_kind = (x.is_ascii_uppercase() && y.is_ascii_uppercase())
                    || (x.is_ascii_lowercase() && y.is_ascii_lowercase())
                    || (x.is_ascii_digit() && y.is_ascii_digit());
                if !same_kind || y < x {
                    return Err(ProfileError::BadRange {
                        spec: spec.to_string(),
                        from: x as char,
                        to: y as char,
                    });
                }
                for ch in x..=y {
                    c.insert(ch);
                }
                i += 3;
            } else {
                c.insert(x);
                i += 1;
            }
        }
        Ok(c)
    }

    /// Every printable ASCII character (space to `~`).
    pub fn printable() -> CharClass {
        let mut c = CharClass::EMPTY;
        for b in 0x20..0x7f {
            c.insert(b);
        }
        c
    }

    fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize & 1] |= 1 << (b & 63);
    }

    /// True when `b` is in the class.
    #[inline]
    pub fn allows(self, b: u8) -> bool {
        b < 128 && self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }

    /// True when every byte of `v` is in the class.
    pub fn allows_all(self, v: &[u8]) -> bool {
        v.iter().all(|&b| self.allows(b))
    }
}

impl fmt::Debug for CharClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: String = (0x20u8..0x7f)
            .filter(|&b| self.allows(b))
            .map(|b| b as char)
            .collect();
        write!(f, "[{s}]")
    }
}

/// The values a field may take beyond its characters: a list of codes or a
/// pattern (matched whole, on the canonical value).
#[derive(Clone, Debug)]
pub enum Vocab {
    /// One of these (upper case).
    Values(Vec<String>),
    /// A regular expression the whole value must match.
    Pattern(regex::bytes::Regex),
}

impl PartialEq for Vocab {
    fn eq(&self, o: &Vocab) -> bool {
        match (self, o) {
            (Vocab::Values(a), Vocab::Values(b)) => a == b,
            (Vocab::Pattern(a), Vocab::Pattern(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl Eq for Vocab {}

impl Vocab {
    /// A pattern, anchored at both ends.
    pub fn pattern(p: &str) -> Result<Vocab, ProfileError> {
        regex::bytes::RegexBuilder::new(&format!("^(?:{p})$"))
            .unicode(false)
            .size_limit(1 << 20)
            .build()
            .map(Vocab::Pattern)
            .map_err(|e| ProfileError::Pattern {
                pattern: p.to_string(),
                reason: e.to_string(),
            })
    }

    fn allows(&self, v: &[u8]) -> bool {
        match self {
            Vocab::Values(l) => l.iter().any(|x| x.as_bytes() == v),
            Vocab::Pattern(r) => r.is_match(v),
        }
    }
}

/// What a value may be. Values are compared in their *canonical* form
/// ([`ValueRule::canonical`]): blanks at both ends removed, every run of
/// blanks inside made one space, and, when the class holds no lower-case
/// letter, letters upper-cased. The canonical form is what is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueRule {
    /// Allowed characters.
    pub class: CharClass,
    /// Longest value, in bytes.
    pub max: usize,
    /// Most words: runs of letters and digits, whatever separates them
    /// (`A-B` is two). None: no limit.
    pub words: Option<usize>,
    /// The values it may take (None: any that fits the class).
    pub vocab: Option<std::sync::Arc<Vocab>>,
    /// Most occurrences per record (a legacy field in one record, an
    /// element under one parent).
    pub repeat: u16,
}

fn is_blank_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl ValueRule {
    /// A rule of class, length and words, any value, once per record.
    pub fn new(class: CharClass, max: usize, words: Option<usize>) -> ValueRule {
        ValueRule {
            class,
            max,
            words,
            vocab: None,
            repeat: 1,
        }
    }

    /// True when the class has no lower-case letter: values are upper-cased.
    pub fn folds_case(&self) -> bool {
        !(b'a'..=b'z').any(|b| self.class.allows(b))
    }

    /// Writes the canonical form of `v` to `out` (cleared first) and says
    /// whether it meets the rule. Bytes outside printable ASCII never do.
    pub fn canonical(&self, v: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        let fold = self.folds_case();
        let spaced = self.class.allows(b' ');
        let mut blank = false;
        for &b in v {
            if is_blank_ws(b) {
                blank = !out.is_empty();
                continue;
            }
            // No blank before a comma; one after it (where the class has
            // blanks): `DOE ,JANE` and `DOE, JANE` are one value. A blank
            // before a period stays: names read a period as nothing, so
            // `JANE .Q` (`JANE Q`) and `JANE.Q` (`JANEQ`) are two names, and
            // a written value must read as the value did (the fuzz target
            // `court_order_response` found the blank dropped).
            if blank && b != b',' {
                out.push(b' ');
            }
            blank = false;
            out.push(if fold { b.to_ascii_uppercase() } else { b });
            if b == b',' && spaced {
                blank = true;
            }
            if out.len() > self.max {
                return false;
            }
        }
        self.allows(out)
    }

    /// True when `v`, already canonical, meets the rule.
    pub fn allows(&self, v: &[u8]) -> bool {
        v.len() <= self.max
            && self.class.allows_all(v)
            && self.words.is_none_or(|w| words(v) <= w)
            && self
                .vocab
                .as_ref()
                .is_none_or(|x| v.is_empty() || x.allows(v))
    }

    /// True when some spelling of `v` meets the rule (its canonical form does).
    pub fn accepts(&self, v: &[u8]) -> bool {
        let mut c = Vec::with_capacity(v.len().min(self.max + 1));
        self.canonical(v, &mut c)
    }
}

/// Runs of letters and digits in `v`.
pub fn words(v: &[u8]) -> usize {
    let mut n = 0;
    let mut inside = false;
    for &b in v {
        let w = b.is_ascii_alphanumeric();
        if w && !inside {
            n += 1;
        }
        inside = w;
    }
    n
}

/// One releasable legacy field: `LABEL` + separator + value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyField {
    /// The label, upper-case `A-Z0-9`, exactly as on the wire.
    pub label: String,
    /// The separator after the label (`/` by default).
    pub sep: u8,
    /// What its value may be.
    pub value: ValueRule,
}

/// The legacy-text part of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyProfile {
    /// Releasable labelled fields, in the order they are written.
    pub fields: Vec<LegacyField>,
    /// Heading lines, written before the records when the message had them
    /// (compared in canonical form: blanks squeezed, upper case).
    pub lines: Vec<String>,
    /// Closing lines (`END OF RECORD`), written after the records.
    pub trailers: Vec<String>,
    /// An unlabelled value allowed at the start of a line that also holds a
    /// released field (the name in Nlets DR layouts); it starts a record.
    pub leading: Option<ValueRule>,
    /// Labels one of which must be the next released item after a leading
    /// value on its line (`DOB`: `DOE, JANE  DOB/...`). Empty: any field.
    pub leading_before: Vec<String>,
    /// Labels whose field starts a new record when the record already has
    /// one of them (or a leading value).
    pub record_start: Vec<String>,
    /// The written lines of a record: field indices per line. Fields on no
    /// line are written on a last line of their own, in profile order.
    pub layout: Vec<Vec<usize>>,
    /// Most records per message.
    pub records: u16,
}

impl Default for LegacyProfile {
    fn default() -> Self {
        LegacyProfile {
            fields: Vec::new(),
            lines: Vec::new(),
            trailers: Vec::new(),
            leading: None,
            leading_before: Vec::new(),
            record_start: Vec::new(),
            layout: Vec::new(),
            records: DEFAULT_RECORDS,
        }
    }
}

/// Records per message when a profile says nothing.
pub const DEFAULT_RECORDS: u16 = 10;

/// `line` with blanks at both ends removed, inner runs made one space, and
/// upper-cased: how literal lines are compared and written.
pub fn canonical_line(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut blank = false;
    for &b in line {
        if b == b' ' || b == b'\t' {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push(b' ');
            blank = false;
        }
        out.push(b.to_ascii_uppercase());
    }
    out
}

impl LegacyProfile {
    /// The rule for `label` followed by `sep`, if the profile names it.
    pub fn field(&self, label: &[u8], sep: u8) -> Option<&ValueRule> {
        self.field_index(label, sep).map(|i| &self.fields[i].value)
    }

    /// The index of the field `label` + `sep`, if the profile names it.
    pub fn field_index(&self, label: &[u8], sep: u8) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.sep == sep && f.label.as_bytes() == label)
    }

    /// The heading (`Ok`) or closing (`Err`) line index `line` is, if any.
    pub fn literal_index(&self, line: &[u8]) -> Option<Result<usize, usize>> {
        if !line
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
        {
            return None;
        }
        let c = canonical_line(line);
        if c.is_empty() {
            return None;
        }
        let find = |l: &[String]| l.iter().position(|x| x.as_bytes() == &c[..]);
        find(&self.lines)
            .map(Ok)
            .or_else(|| find(&self.trailers).map(Err))
    }

    /// True when `line` is a released literal line.
    pub fn literal(&self, line: &[u8]) -> bool {
        self.literal_index(line).is_some()
    }

    /// True when field `f` starts a record.
    pub fn starts_record(&self, f: usize) -> bool {
        self.record_start.contains(&self.fields[f].label)
    }
}

/// Trims trailing spaces and tabs.
pub fn trim_end(b: &[u8]) -> &[u8] {
    let e = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(0, |e| e + 1);
    &b[..e]
}

/// What an element of a profile holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Only child elements (and whitespace).
    Container,
    /// Text, checked against a rule.
    Value(ValueRule),
    /// Free text, projected as legacy text with the profile's legacy part.
    Legacy,
    /// Base64 data of an image (a photo a court order releases): strict
    /// base64 (the alphabet, `=` padding only at the end, a multiple of 4
    /// characters; blanks and line breaks between), at most `max` bytes,
    /// decoding to a whole JPEG or PNG image with nothing but its picture
    /// (`redact::image`). Text (a place of birth, a number) is not an
    /// image, whatever alphabet it is written in.
    Base64 {
        /// Longest value, in bytes.
        max: usize,
    },
}

impl NodeKind {
    /// True when `v` is at most `max` bytes of strict base64 of a JPEG or
    /// PNG image holding only what codes its picture ([`super::image`]).
    pub fn base64_allows(v: &[u8], max: usize) -> bool {
        v.len() <= max && super::image::base64_image(v)
    }
}

/// A releasable attribute of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrRule {
    /// Namespace URI ("" for none).
    pub ns: String,
    /// Local name.
    pub local: String,
    /// What its value may be.
    pub value: ValueRule,
}

/// One element of the profile tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub local: String,
    /// What it holds.
    pub kind: NodeKind,
    /// Children (indices into [`XmlProfile::nodes`]).
    pub children: Vec<usize>,
    /// Releasable attributes.
    pub attrs: Vec<AttrRule>,
    /// Most occurrences under one parent element.
    pub repeat: u16,
    /// Withheld content may refer to it (a person or a licence that a
    /// withheld photo or association points at): its meaning is its own.
    pub referable: bool,
}

/// The XML part of a profile: a tree of releasable elements below `n2:NLETS`
/// (the header is handled apart: always kept byte-identical).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlProfile {
    /// `nodes[0]` is the root element (`n2:NLETS`).
    pub nodes: Vec<Node>,
    /// The prefix written for each namespace URI (the profile's own names;
    /// numbered when two URIs of one message want the same prefix).
    pub prefixes: Vec<(String, String)>,
    /// Alternative URIs and the one they are written as (NIEM core 3.0 to
    /// 5.0 written as 2.0 when a profile prefix stands for all of them).
    pub aliases: Vec<(String, String)>,
}

impl Default for XmlProfile {
    fn default() -> Self {
        XmlProfile {
            nodes: vec![Node {
                ns: String::from_utf8_lossy(NS_N2).into_owned(),
                local: "NLETS".into(),
                kind: NodeKind::Container,
                children: vec![],
                attrs: vec![],
                repeat: 1,
                referable: false,
            }],
            prefixes: NIEM_CORE
                .iter()
                .map(|u| (u.to_string(), "nc".to_string()))
                .collect(),
            aliases: Vec::new(),
        }
    }
}

impl XmlProfile {
    /// The child of `parent` with this name, if releasable.
    pub fn child(&self, parent: usize, ns: &[u8], local: &[u8]) -> Option<usize> {
        self.nodes.get(parent)?.children.iter().copied().find(|&c| {
            let n = &self.nodes[c];
            n.local.as_bytes() == local && n.ns.as_bytes() == ns
        })
    }

    /// The rule for an attribute of node `n`, if releasable.
    pub fn attr(&self, n: usize, ns: &[u8], local: &[u8]) -> Option<&ValueRule> {
        self.nodes
            .get(n)?
            .attrs
            .iter()
            .find(|a| a.local.as_bytes() == local && a.ns.as_bytes() == ns)
            .map(|a| &a.value)
    }

    /// The URI `ns` is written as.
    pub fn canonical_ns<'a>(&'a self, ns: &'a str) -> &'a str {
        self.aliases
            .iter()
            .find(|(a, _)| a == ns)
            .map_or(ns, |(_, c)| c.as_str())
    }

    /// Node `n`'s name as written: (canonical URI, local name).
    pub fn canonical_name(&self, n: usize) -> (&str, &str) {
        let node = &self.nodes[n];
        (self.canonical_ns(&node.ns), &node.local)
    }

    /// The node at `path` (`(ns, local)` steps below the root), if named.
    pub fn node_at(&self, path: &[(String, String)]) -> Option<usize> {
        path.iter()
            .try_fold(0, |at, (ns, l)| self.child(at, ns.as_bytes(), l.as_bytes()))
    }

    /// Adds the element at `path` (`(ns, local)` steps below the root), with
    /// the intermediate elements as containers. Errors when a step already
    /// holds a value or the leaf is given twice.
    pub fn add(
        &mut self,
        path: &[(String, String)],
        kind: NodeKind,
        attrs: Vec<AttrRule>,
    ) -> Result<(), ProfileError> {
        let mut at = 0;
        for (i, (ns, local)) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let next = match self.child(at, ns.as_bytes(), local.as_bytes()) {
                Some(c) => {
                    if last {
                        let n = &mut self.nodes[c];
                        if n.kind != NodeKind::Container || !n.attrs.is_empty() {
                            return Err(ProfileError::ElementTwice(local.clone()));
                        }
                        if !n.children.is_empty() && kind != NodeKind::Container {
                            return Err(ProfileError::ValueWithChildren(local.clone()));
                        }
                        n.kind = kind.clone();
                        n.attrs = attrs.clone();
                    } else if self.nodes[c].kind != NodeKind::Container {
                        return Err(ProfileError::ChildrenOfValue(local.clone()));
                    }
                    c
                }
                None => {
                    self.nodes.push(Node {
                        ns: ns.clone(),
                        local: local.clone(),
                        kind: if last {
                            kind.clone()
                        } else {
                            NodeKind::Container
                        },
                        children: vec![],
                        attrs: if last { attrs.clone() } else { vec![] },
                        repeat: 1,
                        referable: false,
                    });
                    let c = self.nodes.len() - 1;
                    self.nodes[at].children.push(c);
                    c
                }
            };
            at = next;
        }
        Ok(())
    }
}

/// A release profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Its name (policy, audit, `explain`).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Message keys it can release; other keys to a list using it are refused.
    pub keys: KeySet,
    /// Legacy text rules (also used for XML free text).
    pub legacy: LegacyProfile,
    /// NIEM XML rules.
    pub xml: XmlProfile,
}

/// Name of the built-in profile a redact list uses when it names none.
pub const BUILTIN: &str = "nlets-basic";

fn rule(class: &str, max: usize, words: Option<usize>) -> ValueRule {
    ValueRule::new(CharClass::parse(class).unwrap_or_default(), max, words)
}

impl Profile {
    /// The built-in profile: identity and licence facts of DR, DNR, KR and RR
    /// responses, in legacy text and NIEM (NIEM core 2.0 to 5.0), without
    /// photo, place of birth, address, SSN or documents.
    // Long: one table of data: the built-in profile's keys, legacy fields, layout and NIEM leaves.
    pub fn builtin() -> Profile {
        let mut keys = KeySet::default();
        for k in ["DR", "DRG", "DNR", "KR", "RR", "RNR", "RPR"] {
            keys.insert(k);
        }
        let f = |label: &str, class: &str, max: usize, words: Option<usize>| LegacyField {
            label: label.into(),
            sep: b'/',
            value: rule(class, max, words),
        };
        let fields = vec![
            f("NAM", "name", 60, Some(8)),
            f("DOB", "date", 10, Some(3)),
            f("SEX", "code", 1, Some(1)),
            f("RAC", "code", 1, Some(1)),
            f("HGT", "digits", 3, Some(1)),
            f("WGT", "digits", 3, Some(1)),
            f("EYE", "code", 3, Some(1)),
            f("HAI", "code", 3, Some(1)),
            f("OLN", "code", 20, Some(1)),
            f("OLS", "code", 2, Some(1)),
            f("OLY", "digits", 4, Some(1)),
            f("CLASS", "code", 3, Some(1)),
            f("CLS", "code", 3, Some(1)),
            f("STATUS", "alnum", 12, Some(2)),
            f("EXP", "date", 10, Some(3)),
            f("ISS", "date", 10, Some(3)),
            f("RSTR", "code", 12, Some(1)),
            f("END", "code", 12, Some(1)),
            f("LIC", "code", 10, Some(1)),
            f("LIS", "code", 2, Some(1)),
            f("LIY", "digits", 4, Some(1)),
            f("LIT", "code", 2, Some(1)),
            f("VIN", "code", 20, Some(1)),
            f("VYR", "digits", 4, Some(1)),
            f("VMA", "code", 4, Some(1)),
            f("VMO", "code", 3, Some(1)),
            f("VST", "code", 2, Some(1)),
            f("VCO", "code", 7, Some(1)),
        ];
        let line = |labels: &[&str]| -> Vec<usize> {
            labels
                .iter()
                .filter_map(|l| fields.iter().position(|f| f.label == *l))
                .collect()
        };
        let layout = vec![
            line(&["NAM", "DOB", "SEX", "RAC", "HGT", "WGT", "EYE", "HAI"]),
            line(&[
                "OLN", "OLS", "OLY", "CLASS", "CLS", "STATUS", "EXP", "ISS", "RSTR", "END",
            ]),
            line(&[
                "LIC", "LIS", "LIY", "LIT", "VIN", "VYR", "VMA", "VMO", "VST", "VCO",
            ]),
        ];
        let legacy = LegacyProfile {
            fields,
            lines: [
                "NOT ON FILE",
                "NO RECORD FOUND",
                "FILE NOT AVAILABLE",
                "TEMPORARILY UNAVAILABLE",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            trailers: vec!["END OF RECORD".to_string()],
            leading: Some(rule("name", 60, Some(8))),
            leading_before: vec!["DOB".into()],
            record_start: vec!["NAM".into(), "LIC".into()],
            layout,
            records: DEFAULT_RECORDS,
        };
        let mut xml = XmlProfile {
            aliases: NIEM_CORE[1..]
                .iter()
                .map(|u| (u.to_string(), NIEM_CORE[0].to_string()))
                .collect(),
            ..XmlProfile::default()
        };
        let n2 = String::from_utf8_lossy(NS_N2).into_owned();
        let step = |ns: &str, l: &str| (ns.to_string(), l.to_string());
        for body in ["NLETSResponseData"] {
            let _ = xml.add(
                &[step(&n2, body), step(&n2, "ResponseText")],
                NodeKind::Legacy,
                vec![],
            );
            for nc in NIEM_CORE {
                let person = [step(&n2, body), step(&n2, "Person")];
                let leaf = |xml: &mut XmlProfile, tail: &[&str], r: ValueRule| {
                    let mut p = person.to_vec();
                    p.extend(tail.iter().map(|l| step(nc, l)));
                    let _ = xml.add(&p, NodeKind::Value(r), vec![]);
                };
                leaf(
                    &mut xml,
                    &["PersonName", "PersonGivenName"],
                    rule("name", 40, Some(4)),
                );
                leaf(
                    &mut xml,
                    &["PersonName", "PersonMiddleName"],
                    rule("name", 40, Some(4)),
                );
                leaf(
                    &mut xml,
                    &["PersonName", "PersonSurName"],
                    rule("name", 40, Some(5)),
                );
                leaf(
                    &mut xml,
                    &["PersonName", "PersonFullName"],
                    rule("name", 60, Some(8)),
                );
                leaf(
                    &mut xml,
                    &["PersonName", "PersonNameSuffixText"],
                    rule("code", 4, Some(1)),
                );
                leaf(
                    &mut xml,
                    &["PersonBirthDate", "Date"],
                    rule("date", 10, Some(1)),
                );
                leaf(&mut xml, &["PersonSexCode"], rule("code", 1, Some(1)));
                leaf(&mut xml, &["PersonSexText"], rule("name", 10, Some(1)));
            }
            if let Some(p) = xml.node_at(&[step(&n2, body), step(&n2, "Person")]) {
                xml.nodes[p].repeat = DEFAULT_RECORDS;
                xml.nodes[p].referable = true;
            }
        }
        Profile {
            name: BUILTIN.into(),
            description: "built-in: identity and licence facts, no photo, place of birth, address, SSN or documents".into(),
            keys,
            legacy,
            xml,
        }
    }

    /// The namespace URIs a profile may use without declaring them.
    pub fn known_prefixes() -> Vec<(&'static str, String)> {
        vec![
            ("n2", String::from_utf8_lossy(NS_N2).into_owned()),
            ("nh2", String::from_utf8_lossy(NS_NH2).into_owned()),
            ("nc", NIEM_CORE[0].to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = CharClass::parse("name").unwrap();
        assert!(c.allows_all(b"DOE, JANE O'NEIL-SMITH"));
        assert!(!c.allows_all(b"DOE1") && !c.allows_all(b"doe") && !c.allows(0xC3));
        let c = CharClass::parse("A-C0-1-").unwrap();
        assert!(c.allows_all(b"ABC01-") && !c.allows(b'D') && !c.allows(b'2'));
        assert!(CharClass::parse("Z-A").is_err());
        assert!(CharClass::parse("").is_err());
        assert!(CharClass::parse("é").is_err());
        let r = ValueRule::new(CharClass::parse("name").unwrap(), 10, Some(2));
        assert!(r.allows(b"DOE JANE") && !r.allows(b"DOE JANE Q") && !r.allows(b"ABCDEFGHIJK"));
        // Words are runs of letters and digits: a dash does not join them.
        assert!(!r.allows(b"A-B-C") && r.allows(b"O'NEIL"));
        // Canonical form: blanks squeezed, upper case for a class without
        // lower-case letters.
        let mut c = Vec::new();
        assert!(r.canonical(b"  Doe \t  jane ", &mut c) && c == b"DOE JANE");
        assert!(!r.canonical(b"DOE\xC3\xA9", &mut c));
        let mut v = r.clone();
        v.vocab = Some(std::sync::Arc::new(Vocab::pattern("DOE [A-Z]+").unwrap()));
        assert!(v.accepts(b"doe  jane") && !v.accepts(b"ROE JANE"));
    }

    #[test]
    fn tree() {
        let p = Profile::builtin();
        let n2 = NS_N2;
        let body = p.xml.child(0, n2, b"NLETSResponseData").unwrap();
        let person = p.xml.child(body, n2, b"Person").unwrap();
        let name = p
            .xml
            .child(person, NIEM_CORE[0].as_bytes(), b"PersonName")
            .unwrap();
        assert!(p
            .xml
            .child(name, NIEM_CORE[0].as_bytes(), b"PersonSurName")
            .is_some());
        assert!(p
            .xml
            .child(person, NIEM_CORE[0].as_bytes(), b"PersonBirthLocation")
            .is_none());
        let mut x = XmlProfile::default();
        let s = |l: &str| ("u".to_string(), l.to_string());
        x.add(
            &[s("a"), s("b")],
            NodeKind::Value(rule("code", 1, None)),
            vec![],
        )
        .unwrap();
        assert!(x
            .add(&[s("a"), s("b"), s("c")], NodeKind::Container, vec![])
            .is_err());
        assert!(x
            .add(&[s("a")], NodeKind::Value(rule("code", 1, None)), vec![])
            .is_err());
    }
}
