//! `[[profile]]` tables of the policy file: release profiles, validated with
//! `file:line` diagnostics into [`Profile`]s. See `specs/redaction.md`.

use super::diag::Ctx;
use crate::redact::profile::{
    AttrRule, CharClass, LegacyField, LegacyProfile, NodeKind, Profile, ValueRule, XmlProfile,
    BUILTIN,
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
    namespaces: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    legacy: RawLegacy,
    #[serde(default)]
    xml: RawXml,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLegacy {
    #[serde(default)]
    fields: Vec<Spanned<RawField>>,
    #[serde(default)]
    lines: Vec<Spanned<String>>,
    leading: Option<Spanned<RawValue>>,
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

fn value(chars: &str, max: usize, words: Option<usize>) -> Result<ValueRule, String> {
    if max == 0 || max > MAX_VALUE {
        return Err(format!("max must be between 1 and {MAX_VALUE}"));
    }
    if words == Some(0) {
        return Err("words must be at least 1".into());
    }
    let class = CharClass::parse(chars).map_err(|e| {
        let named: Vec<&str> = crate::redact::profile::NAMED_CLASSES
            .iter()
            .map(|(n, _)| *n)
            .collect();
        format!("{e} (named classes: {})", named.join(", "))
    })?;
    Ok(ValueRule { class, max, words })
}

/// Splits `prefix:Local` and resolves the prefix in `ns`.
fn qname(ns: &BTreeMap<String, String>, q: &str) -> Result<(String, String), String> {
    let (prefix, local) = q
        .split_once(':')
        .ok_or_else(|| format!("{q:?} needs a namespace prefix (prefix:LocalName)"))?;
    let uri = ns.get(prefix).ok_or_else(|| {
        format!("{q:?}: prefix {prefix:?} is not declared in the profile's namespaces")
    })?;
    let ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if !ok {
        return Err(format!("{q:?}: bad local name"));
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
        let mut ns: BTreeMap<String, String> = Profile::known_prefixes()
            .into_iter()
            .map(|(p, u)| (p.to_string(), u))
            .collect();
        for (p, u) in &rp.namespaces {
            ns.insert(p.clone(), u.get_ref().clone());
        }
        let (base_legacy, base_xml) = base.map_or_else(Default::default, |b| (b.legacy, b.xml));
        let legacy = legacy(&rp.legacy, base_legacy, cx, path, &ln);
        let xml = xml(&rp.xml, base_xml, &ns, cx, path, &ln);
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
        match value(&r.chars, r.max, r.words) {
            Ok(v) => p.fields.push(LegacyField {
                label: r.label.clone(),
                sep,
                value: v,
            }),
            Err(e) => cx.err(path, line, format!("label {:?}: {e}", r.label)),
        }
    }
    for l in &raw.lines {
        let t = l.get_ref();
        if t.trim().is_empty() || !t.bytes().all(|b| (0x20..0x7f).contains(&b)) || t.ends_with(' ')
        {
            cx.err(
                path,
                ln(&l.span()),
                format!("line {t:?} must be printable ASCII without trailing blanks"),
            );
        }
        p.lines.push(t.clone());
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
    ns: &BTreeMap<String, String>,
    cx: &mut Ctx,
    path: &str,
    ln: &dyn Fn(&std::ops::Range<usize>) -> u32,
) -> XmlProfile {
    let mut x = base;
    for el in &raw.elements {
        let line = ln(&el.span());
        let e = el.get_ref();
        let steps: Result<Vec<_>, String> = e.path.split('/').map(|q| qname(ns, q)).collect();
        let steps = match steps {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => {
                cx.err(path, line, "empty path");
                continue;
            }
            Err(m) => {
                cx.err(path, line, m);
                continue;
            }
        };
        let (hdr_ns, hdr) = (&steps[0].0, &steps[0].1);
        if hdr == "NLETSMessageHeader" && hdr_ns.as_bytes() == crate::message::xml::NS_N2 {
            cx.err(
                path,
                line,
                "the header is always forwarded unchanged; it is not part of a profile",
            );
            continue;
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
                continue;
            }
            (None, Some(c)) => match value(c, e.max.unwrap_or(0), e.words) {
                Ok(v) => NodeKind::Value(v),
                Err(m) => {
                    cx.err(path, line, format!("{}: {m}", e.path));
                    continue;
                }
            },
            (None, None) => NodeKind::Container,
        };
        let mut attrs = Vec::new();
        for a in &e.attributes {
            let (ans, alocal) = if a.name.contains(':') {
                match qname(ns, &a.name) {
                    Ok(q) => q,
                    Err(m) => {
                        cx.err(path, line, m);
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
    }
    x
}
