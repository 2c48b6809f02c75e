//! `[[profile]]` tables of the policy file: release profiles, validated with
//! `file:line` diagnostics into [`Profile`]s. See `specs/redaction.md`.

use super::diag::Ctx;
use crate::redact::profile::{
    AttrRule, CharClass, LegacyField, LegacyProfile, NodeKind, Profile, ProfileError, ValueRule,
    Vocab, XmlProfile, BUILTIN,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// Longest value a profile may allow, in bytes.
pub const MAX_VALUE: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    name: Spanned<String>,
    description: Option<String>,
    extends: Option<Spanned<String>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    #[serde(default)]
    namespaces: BTreeMap<String, Spanned<NsUris>>,
    #[serde(default)]
    legacy: RawLegacy,
    #[serde(default)]
    xml: RawXml,
}

/// A profile prefix: one namespace URI, or several (NIEM core 2.0 to 5.0
/// name the same elements): a path through it is released in each.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum NsUris {
    One(String),
    Many(Vec<String>),
}

impl NsUris {
    fn list(&self) -> Vec<String> {
        match self {
            NsUris::One(u) => vec![u.clone()],
            NsUris::Many(l) => l.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLegacy {
    #[serde(default)]
    fields: Vec<Spanned<RawField>>,
    #[serde(default)]
    lines: Vec<Spanned<String>>,
    #[serde(default)]
    trailers: Vec<Spanned<String>>,
    leading: Option<Spanned<RawValue>>,
    #[serde(default)]
    leading_before: Vec<Spanned<String>>,
    #[serde(default)]
    record_start: Vec<Spanned<String>>,
    #[serde(default)]
    layout: Vec<Spanned<Vec<String>>>,
    records: Option<Spanned<u16>>,
}

/// What a value may be beyond its class: `values`, `pattern`, `repeat`.
#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct RawVocab {
    values: Option<Vec<String>>,
    pattern: Option<String>,
    repeat: Option<u16>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawValue {
    chars: String,
    max: usize,
    words: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    label: String,
    sep: Option<String>,
    chars: String,
    max: usize,
    words: Option<usize>,
    #[serde(flatten)]
    vocab: RawVocab,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawXml {
    #[serde(default)]
    elements: Vec<Spanned<RawElement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElement {
    path: String,
    text: Option<String>,
    chars: Option<String>,
    max: Option<usize>,
    words: Option<usize>,
    #[serde(flatten)]
    vocab: RawVocab,
    #[serde(default)]
    referable: bool,
    #[serde(default)]
    attributes: Vec<RawAttr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttr {
    name: String,
    chars: String,
    max: usize,
}

/// A profile rule that cannot be used (reported with its file and line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// `max` out of range.
    #[error("max must be between 1 and {MAX_VALUE}")]
    Max,
    /// `words = 0`.
    #[error("words must be at least 1")]
    Words,
    /// `chars` does not parse.
    #[error("{0} (named classes: {names})", names = named_classes())]
    Chars(ProfileError),
    /// Both `values` and `pattern`.
    #[error("give values or pattern, not both")]
    ValuesAndPattern,
    /// Too few or too many `values`.
    #[error("values must hold 1 to {MAX_VOCAB} entries")]
    VocabSize,
    /// A listed value its own rule refuses.
    #[error("value {0:?} does not meet the field's chars, max and words")]
    ValueOutsideRule(String),
    /// `pattern` does not compile.
    #[error(transparent)]
    Pattern(ProfileError),
    /// `repeat` out of range.
    #[error("repeat must be between 1 and {MAX_REPEAT}")]
    Repeat,
    /// A name without `prefix:`.
    #[error("{0:?} needs a namespace prefix (prefix:LocalName)")]
    NoPrefix(String),
    /// A prefix not in the profile's namespaces.
    #[error("{name:?}: prefix {prefix:?} is not declared in the profile's namespaces")]
    Undeclared {
        /// The name as given.
        name: String,
        /// Its prefix.
        prefix: String,
    },
    /// A local name with characters other than letters, digits, `_-.`.
    #[error("{0:?}: bad local name")]
    BadLocal(String),
}

/// The named character classes, for messages.
fn named_classes() -> String {
    let named: Vec<&str> = crate::redact::profile::NAMED_CLASSES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    named.join(", ")
}

fn value(chars: &str, max: usize, words: Option<usize>) -> Result<ValueRule, RuleError> {
    if max == 0 || max > MAX_VALUE {
        return Err(RuleError::Max);
    }
    if words == Some(0) {
        return Err(RuleError::Words);
    }
    let class = CharClass::parse(chars).map_err(RuleError::Chars)?;
    Ok(ValueRule::new(class, max, words))
}

/// Most values a `values` list may hold, and most repeats a field may have.
pub const MAX_VOCAB: usize = 512;
/// Most occurrences of a field per record (or element per parent).
pub const MAX_REPEAT: u16 = 64;

/// Adds `values` / `pattern` / `repeat` to `r`. Listed values must meet the
/// rule themselves (in canonical form).
fn vocab(mut r: ValueRule, v: &RawVocab) -> Result<ValueRule, RuleError> {
    match (&v.values, &v.pattern) {
        (Some(_), Some(_)) => return Err(RuleError::ValuesAndPattern),
        (Some(list), None) => {
            if list.is_empty() || list.len() > MAX_VOCAB {
                return Err(RuleError::VocabSize);
            }
            let mut out = Vec::with_capacity(list.len());
            let mut c = Vec::new();
            for x in list {
                if !r.canonical(x.as_bytes(), &mut c) || c.is_empty() {
                    return Err(RuleError::ValueOutsideRule(x.clone()));
                }
                out.push(String::from_utf8_lossy(&c).into_owned());
            }
            r.vocab = Some(std::sync::Arc::new(Vocab::Values(out)));
        }
        (None, Some(p)) => {
            r.vocab = Some(std::sync::Arc::new(
                Vocab::pattern(p).map_err(RuleError::Pattern)?,
            ))
        }
        (None, None) => {}
    }
    if let Some(n) = v.repeat {
        if n == 0 || n > MAX_REPEAT {
            return Err(RuleError::Repeat);
        }
        r.repeat = n;
    }
    Ok(r)
}

/// The number of URIs the prefix of `q` stands for (1 when unknown).
fn alternatives(ns: &BTreeMap<String, Vec<String>>, q: &str) -> usize {
    q.split_once(':')
        .and_then(|(p, _)| ns.get(p))
        .map_or(1, |l| l.len().max(1))
}

/// Splits `prefix:Local` and resolves the prefix in `ns` (its `alt`-th URI
/// when it stands for several).
fn qname(
    ns: &BTreeMap<String, Vec<String>>,
    q: &str,
    alt: usize,
) -> Result<(String, String), RuleError> {
    let (prefix, local) = q
        .split_once(':')
        .ok_or_else(|| RuleError::NoPrefix(q.to_string()))?;
    let uris = ns
        .get(prefix)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| RuleError::Undeclared {
            name: q.to_string(),
            prefix: prefix.to_string(),
        })?;
    let uri = &uris[alt.min(uris.len() - 1)];
    let ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !ok {
        return Err(RuleError::BadLocal(q.to_string()));
    }
    Ok((uri.clone(), local.to_string()))
}

/// Validates every `[[profile]]`; the built-in profile comes first.
pub(super) fn load(raw: &[RawProfile], cx: &mut Ctx, path: &str, src: &str) -> Vec<Profile> {
    let ln = |s: &std::ops::Range<usize>| super::diag::line_of(src, s.start);
    let mut out = vec![Profile::builtin()];
    for rp in raw {
        let line = ln(&rp.name.span());
        let name = rp.name.get_ref().clone();
        if name == BUILTIN || out.iter().any(|p| p.name == name) {
            cx.err(
                path,
                line,
                format!("profile {name:?} is defined twice (or shadows the built-in one)"),
            );
        }
        // `extends`: start from an earlier profile (its keys, legacy rules
        // and elements); this table adds to them.
        let base = match &rp.extends {
            None => None,
            Some(b) => match out.iter().find(|p| p.name == *b.get_ref()) {
                Some(p) => Some(p.clone()),
                None => {
                    cx.err(
                        path,
                        ln(&b.span()),
                        format!(
                            "profile {name:?} extends {:?}, which is not defined before it",
                            b.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let mut keys = super::diag::key_set(cx, path, src, rp.keys.iter());
        if let Some(b) = &base {
            for k in b.keys.keys() {
                keys.insert(k);
            }
        }
        if rp.keys.is_empty() && base.is_none() {
            cx.err(
                path,
                line,
                format!("profile {name:?} releases no message key (keys = [...])"),
            );
        }
        let mut ns: BTreeMap<String, Vec<String>> = Profile::known_prefixes()
            .into_iter()
            .map(|(p, u)| (p.to_string(), vec![u]))
            .collect();
        for (p, u) in &rp.namespaces {
            ns.insert(p.clone(), u.get_ref().list());
        }
        let (base_legacy, base_xml) = base.map_or_else(Default::default, |b| (b.legacy, b.xml));
        let legacy = legacy(&rp.legacy, base_legacy, cx, path, &ln);
        let mut xml = xml(&rp.xml, base_xml, &ns, cx, path, &ln);
        // The profile's own prefixes come first when the output names a URI.
        let mut named: Vec<(String, String)> = ns
            .iter()
            .flat_map(|(p, l)| l.iter().map(move |u| (u.clone(), p.clone())))
            .collect();
        named.append(&mut xml.prefixes);
        xml.prefixes = named;
        // A prefix standing for several URIs writes them all as its first.
        for l in ns.values().filter(|l| l.len() > 1) {
            for u in &l[1..] {
                if !xml.aliases.iter().any(|(a, _)| a == u) {
                    xml.aliases.push((u.clone(), l[0].clone()));
                }
            }
        }
        out.push(Profile {
            name,
            description: rp.description.clone().unwrap_or_default(),
            keys,
            legacy,
            xml,
        });
    }
    out
}

// Long: one short check per key of a profile's legacy table, in file order.
fn legacy(
    raw: &RawLegacy,
    base: LegacyProfile,
    cx: &mut Ctx,
    path: &str,
    ln: &dyn Fn(&std::ops::Range<usize>) -> u32,
) -> LegacyProfile {
    let mut p = base;
    for f in &raw.fields {
        let line = ln(&f.span());
        let r = f.get_ref();
        let label_ok = r.label.len() <= 16
            && r.label
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_uppercase())
            && r.label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !label_ok {
            cx.err(
                path,
                line,
                format!(
                    "label {:?} must be 1-16 characters A-Z 0-9, starting with a letter",
                    r.label
                ),
            );
        }
        let sep = match r.sep.as_deref().unwrap_or("/") {
            "/" => b'/',
            ":" => b':',
            "=" => b'=',
            o => {
                cx.err(
                    path,
                    line,
                    format!("sep {o:?} must be \"/\", \":\" or \"=\""),
                );
                b'/'
            }
        };
        if p.fields.iter().any(|x| x.label == r.label && x.sep == sep) {
            cx.err(path, line, format!("label {:?} is given twice", r.label));
        }
        match value(&r.chars, r.max, r.words).and_then(|v| vocab(v, &r.vocab)) {
            Ok(v) => p.fields.push(LegacyField {
                label: r.label.clone(),
                sep,
                value: v,
            }),
            Err(e) => cx.err(path, line, format!("label {:?}: {e}", r.label)),
        }
    }
    for (l, closing) in raw
        .lines
        .iter()
        .map(|l| (l, false))
        .chain(raw.trailers.iter().map(|l| (l, true)))
    {
        let t = l.get_ref();
        if t.trim().is_empty()
            || !t.bytes().all(|b| (0x20..0x7f).contains(&b))
            || crate::redact::profile::canonical_line(t.as_bytes()) != t.as_bytes()
        {
            cx.err(
                path,
                ln(&l.span()),
                format!(
                    "line {t:?} must be printable ASCII in upper case, single blanks, none at the ends"
                ),
            );
        }
        if closing {
            p.trailers.push(t.clone());
        } else {
            p.lines.push(t.clone());
        }
    }
    for (l, what) in raw
        .record_start
        .iter()
        .map(|l| (l, "record_start"))
        .chain(raw.leading_before.iter().map(|l| (l, "leading_before")))
    {
        if !p.fields.iter().any(|f| &f.label == l.get_ref()) {
            cx.err(
                path,
                ln(&l.span()),
                format!("{what} {:?} is not a field of the profile", l.get_ref()),
            );
        }
        if what == "record_start" {
            p.record_start.push(l.get_ref().clone());
        } else {
            p.leading_before.push(l.get_ref().clone());
        }
    }
    if !raw.layout.is_empty() {
        p.layout.clear();
    }
    for l in &raw.layout {
        let mut row = Vec::new();
        for label in l.get_ref() {
            match p.fields.iter().position(|f| &f.label == label) {
                Some(i) if !p.layout.iter().flatten().chain(&row).any(|&x| x == i) => row.push(i),
                Some(_) => cx.err(
                    path,
                    ln(&l.span()),
                    format!("layout: {label:?} is on two lines"),
                ),
                None => cx.err(
                    path,
                    ln(&l.span()),
                    format!("layout: {label:?} is not a field of the profile"),
                ),
            }
        }
        p.layout.push(row);
    }
    if let Some(r) = &raw.records {
        if *r.get_ref() == 0 || *r.get_ref() > MAX_REPEAT {
            cx.err(
                path,
                ln(&r.span()),
                format!("records must be between 1 and {MAX_REPEAT}"),
            );
        }
        p.records = *r.get_ref();
    }
    if let Some(l) = &raw.leading {
        let r = l.get_ref();
        match value(&r.chars, r.max, r.words) {
            Ok(v) => p.leading = Some(v),
            Err(e) => cx.err(path, ln(&l.span()), format!("leading: {e}")),
        }
    }
    p
}

fn xml(
    raw: &RawXml,
    base: XmlProfile,
    ns: &BTreeMap<String, Vec<String>>,
    cx: &mut Ctx,
    path: &str,
    ln: &dyn Fn(&std::ops::Range<usize>) -> u32,
) -> XmlProfile {
    let mut x = base;
    for el in &raw.elements {
        let e = el.get_ref();
        let alts = e
            .path
            .split('/')
            .chain(e.attributes.iter().map(|a| a.name.as_str()))
            .map(|q| alternatives(ns, q))
            .max()
            .unwrap_or(1);
        for alt in 0..alts {
            element(e, alt, &mut x, ns, cx, path, ln(&el.span()));
        }
    }
    x
}

/// Adds one `xml.elements` entry, its prefixes read as alternative `alt`.
// Long: the checks of one xml.elements entry in order, each stopping the entry early on error.
fn element(
    e: &RawElement,
    alt: usize,
    x: &mut XmlProfile,
    ns: &BTreeMap<String, Vec<String>>,
    cx: &mut Ctx,
    path: &str,
    line: u32,
) {
    {
        let steps: Result<Vec<_>, RuleError> =
            e.path.split('/').map(|q| qname(ns, q, alt)).collect();
        let steps = match steps {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                cx.err(path, line, "empty path");
                return;
            }
            Err(m) => {
                cx.err(path, line, m.to_string());
                return;
            }
        };
        let (hdr_ns, hdr) = (&steps[0].0, &steps[0].1);
        if hdr == "NLETSMessageHeader" && hdr_ns.as_bytes() == crate::message::xml::NS_N2 {
            cx.err(
                path,
                line,
                "the header is always written from its parsed values; it is not part of a profile",
            );
            return;
        }
        let kind = match (&e.text, &e.chars) {
            (Some(t), None) if t == "legacy" => NodeKind::Legacy,
            (Some(t), None) if t == "base64" => NodeKind::Base64 {
                max: e.max.unwrap_or(4 << 20),
            },
            (Some(t), _) => {
                cx.err(
                    path,
                    line,
                    format!(
                        "text = {t:?}: the text modes are \"legacy\" and \"base64\" (and they take no chars)"
                    ),
                );
                return;
            }
            (None, Some(c)) => {
                match value(c, e.max.unwrap_or(0), e.words).and_then(|v| vocab(v, &e.vocab)) {
                    Ok(v) => NodeKind::Value(v),
                    Err(m) => {
                        cx.err(path, line, format!("{}: {m}", e.path));
                        return;
                    }
                }
            }
            (None, None) => NodeKind::Container,
        };
        let mut attrs = Vec::new();
        for a in &e.attributes {
            let (ans, alocal) = if a.name.contains(':') {
                match qname(ns, &a.name, alt) {
                    Ok(q) => q,
                    Err(m) => {
                        cx.err(path, line, m.to_string());
                        continue;
                    }
                }
            } else {
                (String::new(), a.name.clone())
            };
            match value(&a.chars, a.max, None) {
                Ok(v) => attrs.push(AttrRule {
                    ns: ans,
                    local: alocal,
                    value: v,
                }),
                Err(m) => cx.err(path, line, format!("attribute {}: {m}", a.name)),
            }
        }
        if let Err(m) = x.add(&steps, kind, attrs) {
            cx.err(path, line, format!("{}: {m}", e.path));
        }
        // `repeat` on a container (a record element); a value element's
        // repeat is its rule's.
        let n = x.node_at(&steps);
        if let (Some(n), true) = (n, e.referable) {
            x.nodes[n].referable = true;
        }
        if let (Some(n), Some(r)) = (n, e.vocab.repeat) {
            if r == 0 || r > MAX_REPEAT {
                cx.err(
                    path,
                    line,
                    format!("{}: repeat must be between 1 and {MAX_REPEAT}", e.path),
                );
            }
            x.nodes[n].repeat = r;
        }
        if e.chars.is_none() && (e.vocab.values.is_some() || e.vocab.pattern.is_some()) {
            cx.err(
                path,
                line,
                format!("{}: values and pattern need chars", e.path),
            );
        }
    }
}
