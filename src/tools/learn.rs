//! `origuard policy profile --learn CAPTURE`: proposes a release profile
//! from recorded traffic. It reports every legacy label and every NIEM
//! element path the state's messages use, with counts and value *shapes*
//! (characters seen, longest value, most words) — never a value, except
//! the codes of a code field (few short values, each seen at least three
//! times), proposed as its vocabulary (`values`). Elements
//! and labels the catalogue knows as protected are listed commented out.
//! The proposal is a starting point for CBI to review, not a policy.

use crate::message::fields::Catalogue;
use crate::message::{parse, Format, Limits};
use crate::redact::legacy::items;
use crate::redact::profile::{CharClass, NAMED_CLASSES};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What was seen of one label or element.
#[derive(Default, Clone)]
struct Shape {
    count: u64,
    chars: Vec<bool>,
    other: bool,
    max_len: usize,
    max_words: usize,
    container: bool,
    text: bool,
    /// Distinct short values (canonical: upper case, blanks squeezed) and
    /// how often each was seen, while there are few (a code field).
    vals: BTreeMap<Vec<u8>, u64>,
    /// Too many distinct or long values to be a code field.
    not_codes: bool,
}

/// A code field has at most this many distinct values ...
const VOCAB_DISTINCT: usize = 24;
/// ... each at most this long ...
const VOCAB_LEN: usize = 12;
/// ... and each seen at least this often before it is proposed (a value
/// seen once or twice may be someone's data, and is never printed).
const VOCAB_SEEN: u64 = 3;

impl Shape {
    fn add(&mut self, v: &[u8]) {
        self.count += 1;
        // Letters as the release writes them: upper case (a named class
        // has no lower-case letter, and values are folded to fit it).
        for &b in v {
            if b < 128 {
                if self.chars.is_empty() {
                    self.chars = vec![false; 128];
                }
                self.chars[b.to_ascii_uppercase() as usize] = true;
            } else {
                self.other = true;
            }
        }
        self.max_len = self.max_len.max(v.len());
        self.max_words = self.max_words.max(crate::redact::profile::words(v));
        if !self.not_codes {
            let c = crate::redact::profile::canonical_line(v);
            if c.len() > VOCAB_LEN || c.iter().any(|b| !(0x20..0x7f).contains(b)) {
                self.not_codes = true;
                self.vals.clear();
            } else {
                *self.vals.entry(c).or_default() += 1;
                if self.vals.len() > VOCAB_DISTINCT {
                    self.not_codes = true;
                    self.vals.clear();
                }
            }
        }
    }

    /// `, values = [...]` when the field looks like a code field and every
    /// value was seen often enough to be a code rather than someone's data.
    fn vocab(&self, name: &str) -> String {
        let ok = !self.not_codes
            && self.vals.len() >= 2
            && !identifying(name)
            && self.max_words <= 2
            && self.vals.values().all(|&n| n >= VOCAB_SEEN);
        if !ok {
            return String::new();
        }
        let list: Vec<String> = self
            .vals
            .keys()
            .filter(|v| !v.is_empty())
            .map(|v| format!("\"{}\"", esc(&String::from_utf8_lossy(v))))
            .collect();
        if list.is_empty() {
            return String::new();
        }
        format!(", values = [{}]", list.join(", "))
    }

    /// The smallest named class holding every character seen, else a custom one.
    fn class(&self) -> String {
        let seen: Vec<u8> = (0u8..128)
            .filter(|&b| self.chars.get(b as usize) == Some(&true))
            .collect();
        for (name, spec) in NAMED_CLASSES {
            if let Ok(c) = CharClass::parse(spec) {
                if seen.iter().all(|&b| c.allows(b)) {
                    return (*name).to_string();
                }
            }
        }
        let mut s = String::new();
        let runs = [(b'A', b'Z'), (b'a', b'z'), (b'0', b'9')];
        for (a, z) in runs {
            if seen.iter().any(|&b| (a..=z).contains(&b)) {
                let _ = write!(s, "{}-{}", a as char, z as char);
            }
        }
        for &b in &seen {
            if !b.is_ascii_alphanumeric() && (0x20..0x7f).contains(&b) && b != b'-' {
                s.push(b as char);
            }
        }
        if seen.contains(&b'-') {
            s.push('-');
        }
        s
    }
}

/// The report: counts, and the proposed profile as TOML.
pub struct Learned {
    /// Messages read.
    pub messages: u64,
    /// Messages that did not parse (not learned from).
    pub unparsed: u64,
    /// The proposal (TOML with comments).
    pub toml: String,
}

/// Words that mark a label or element as protected-looking for review, on
/// top of the catalogue: a proposal never releases them.
const SUSPECT: &[&str] = &[
    "BIRTH", "BORN", "NATIV", "POB", "BPL", "SSN", "SOC", "PHOTO", "IMAGE", "PORTRAIT", "CITIZEN",
    "IMMIGR", "ALIEN", "DOCUMENT",
];

fn suspect(cat: &Catalogue, name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    SUSPECT.iter().any(|w| up.contains(w))
        || cat.lookalike(name.as_bytes()).is_some()
        || crate::redact::verify::name_hit(cat, cat.all(), name.as_bytes()).is_some()
}

/// Labels and element names that hold who a person is or a number of
/// theirs: never given a vocabulary, however often a value repeats.
fn identifying(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    [
        "NAM", "OWNER", "DOB", "DATE", "OLN", "LIC", "VIN", "PLATE", "ID", "NUMBER",
    ]
    .iter()
    .any(|w| up.contains(w))
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Learns from `msgs` (usually the state's outbound responses).
// Long: two steps over the same six tallies: count every message, then write the TOML in file order.
pub fn learn(msgs: &[bytes::Bytes], name: &str) -> Learned {
    let cat = Catalogue::builtin();
    let limits = Limits::default();
    let mut keys: BTreeMap<String, u64> = BTreeMap::new();
    let mut labels: BTreeMap<(String, char), Shape> = BTreeMap::new();
    let mut leading = Shape::default();
    let mut unlabelled: u64 = 0;
    let mut elements: BTreeMap<String, Shape> = BTreeMap::new();
    let mut prefixes: BTreeMap<String, String> = BTreeMap::new();
    let (mut messages, mut unparsed) = (0u64, 0u64);
    for raw in msgs {
        messages += 1;
        let Ok(m) = parse(raw.clone(), &cat, &limits) else {
            unparsed += 1;
            continue;
        };
        *keys.entry(m.mke.to_string()).or_default() += 1;
        match m.format {
            Format::Legacy => learn_text(
                &raw[m.body_offset..],
                &mut labels,
                &mut leading,
                &mut unlabelled,
            ),
            Format::Xml => {
                let Ok(s) = std::str::from_utf8(raw) else {
                    continue;
                };
                let Ok(doc) = roxmltree::Document::parse(s.trim_start_matches('\u{feff}')) else {
                    continue;
                };
                for c in doc.root_element().children().filter(|c| c.is_element()) {
                    if c.tag_name().name() == "NLETSMessageHeader" {
                        continue;
                    }
                    learn_xml(c, "", &mut elements, &mut prefixes, &mut |t: &str| {
                        learn_text(t.as_bytes(), &mut labels, &mut leading, &mut unlabelled)
                    });
                }
            }
        }
    }
    let mut t = String::new();
    let _ = writeln!(t, "# Proposed by `origuard policy profile --learn` from {messages} messages ({unparsed} not parsed).");
    let _ = writeln!(
        t,
        "# Counts and value shapes only; no value was recorded. Review every line:"
    );
    let _ = writeln!(
        t,
        "# release only what the law allows; entries marked PROTECTED are never proposed."
    );
    let _ = writeln!(t, "[[profile]]\nname = \"{}\"", esc(name));
    let k: Vec<String> = keys.keys().map(|k| format!("\"{k}\"")).collect();
    let _ = writeln!(
        t,
        "# keys seen: {}",
        keys.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(t, "keys = [{}]", k.join(", "));
    let _ = writeln!(t, "\n[profile.namespaces]");
    for (uri, p) in &prefixes {
        let _ = writeln!(t, "{p} = \"{}\"", esc(uri));
    }
    let _ = writeln!(t, "\n[profile.legacy]");
    let _ = writeln!(t, "# {unlabelled} unlabelled text items seen (never proposed; literal lines must be added by hand)");
    if leading.count > 0 {
        let _ = writeln!(
            t,
            "# leading unlabelled value on the first line seen {} times\nleading = {{ chars = \"{}\", max = {}, words = {} }}",
            leading.count,
            leading.class(),
            leading.max_len.max(1),
            leading.max_words.max(1)
        );
    }
    let _ = writeln!(t, "fields = [");
    for ((label, sep), s) in &labels {
        let protected = suspect(&cat, label);
        let line = format!(
            "{{ label = \"{label}\", sep = \"{sep}\", chars = \"{}\", max = {}, words = {}{} }},",
            esc(&s.class()),
            s.max_len.max(1),
            s.max_words.max(1),
            s.vocab(label)
        );
        proposal(&mut t, protected, &line, s);
    }
    let _ = writeln!(t, "]\n\n[profile.xml]\nelements = [");
    for (path, s) in &elements {
        let protected = path
            .split('/')
            .filter_map(|q| q.split_once(':').map(|(_, l)| l))
            .any(|l| suspect(&cat, l));
        let entry = if s.container && !s.text {
            continue;
        } else if path.ends_with(":ResponseText") {
            format!("{{ path = \"{path}\", text = \"legacy\" }},")
        } else {
            format!(
                "{{ path = \"{path}\", chars = \"{}\", max = {}, words = {}{} }},",
                esc(&s.class()),
                s.max_len.max(1),
                s.max_words.max(1),
                s.vocab(path.rsplit(':').next().unwrap_or(path))
            )
        };
        proposal(&mut t, protected, &entry, s);
    }
    let _ = writeln!(t, "]");
    Learned {
        messages,
        unparsed,
        toml: t,
    }
}

/// One proposed entry with its count; protected-looking ones commented out.
fn proposal(t: &mut String, protected: bool, entry: &str, s: &Shape) {
    let note = format!(
        "seen {}{}",
        s.count,
        if s.other { ", non-ASCII seen" } else { "" }
    );
    if protected {
        let _ = writeln!(
            t,
            "  # PROTECTED (catalogue) — not proposed: {entry}  # {note}"
        );
    } else {
        let _ = writeln!(t, "  {entry}  # {note}");
    }
}

fn learn_text(
    body: &[u8],
    labels: &mut BTreeMap<(String, char), Shape>,
    leading: &mut Shape,
    unlabelled: &mut u64,
) {
    let mut its = Vec::new();
    let mut first = true;
    for line in body.split(|&b| b == b'\n' || b == b'\r') {
        if line.iter().all(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        items(line, None, first, &mut its);
        for (k, it) in its.iter().enumerate() {
            let v = &line[it.value.0..it.value.1];
            match it.label {
                Some((le, sep)) => {
                    let l = String::from_utf8_lossy(&line[it.span.0..le]).into_owned();
                    labels.entry((l, sep as char)).or_default().add(v);
                }
                None if first && k == 0 && its.len() > 1 => leading.add(v),
                None => *unlabelled += 1,
            }
        }
        first = false;
    }
}

fn learn_xml(
    n: roxmltree::Node<'_, '_>,
    parent: &str,
    out: &mut BTreeMap<String, Shape>,
    prefixes: &mut BTreeMap<String, String>,
    text: &mut dyn FnMut(&str),
) {
    let ns = n.tag_name().namespace().unwrap_or("").to_string();
    let next = prefixes.len() + 1;
    let p = prefixes
        .entry(ns.clone())
        .or_insert_with(|| match ns.as_str() {
            "http://www.nlets.org/niem/1.0" => "n2".into(),
            "http://niem.gov/niem/niem-core/2.0" => "nc".into(),
            "http://www.nlets.org/niem/nlets-core/1.0" => "n2c".into(),
            _ => format!("ns{next}"),
        })
        .clone();
    let path = if parent.is_empty() {
        format!("{p}:{}", n.tag_name().name())
    } else {
        format!("{parent}/{p}:{}", n.tag_name().name())
    };
    let own: String = n
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    let own = own.trim();
    let has_children = n.children().any(|c| c.is_element());
    {
        let s = out.entry(path.clone()).or_default();
        if has_children {
            s.container = true;
            s.count += 1;
        }
        if !own.is_empty() {
            s.text = true;
            s.add(own.as_bytes());
        }
    }
    if path.ends_with(":ResponseText") {
        text(own);
    }
    for c in n.children().filter(|c| c.is_element()) {
        learn_xml(c, &path, out, prefixes, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dr(oln: &str, status: &str, sex: &str) -> bytes::Bytes {
        bytes::Bytes::from(format!(
            "DR.COOLN0000.AZNLETS20.*A1.TXT\r\nNAM/DOE,JANE.DOB/19800115.SEX/{sex}\r\nOLN/{oln}  STATUS/{status}\r\n"
        ))
    }

    #[test]
    fn code_fields_get_their_vocabulary_and_nothing_else_does() {
        let mut msgs: Vec<_> = (0..3)
            .flat_map(|i| {
                [
                    dr(&format!("00000000{i}"), "VALID", "F"),
                    dr(&format!("10000000{i}"), "Suspended", "M"),
                ]
            })
            .collect();
        let t = learn(&msgs, "l").toml;
        assert!(
            t.contains(r#"label = "STATUS", sep = "/", chars = "name", max = 9, words = 1, values = ["SUSPENDED", "VALID"]"#),
            "{t}"
        );
        assert!(t.contains(r#"values = ["F", "M"]"#), "{t}");
        // A licence number, a name or a date never gets one, however often
        // it repeats.
        for l in t
            .lines()
            .filter(|l| l.contains("\"OLN\"") || l.contains("\"NAM\"") || l.contains("\"DOB\""))
        {
            assert!(!l.contains("values"), "{l}");
        }
        // A value seen only once or twice is never printed.
        msgs.push(dr("200000000", "NONCITQZ", "F"));
        let t = learn(&msgs, "l").toml;
        assert!(!t.contains("NONCITQZ") && !t.contains("SUSPENDED"), "{t}");
    }
}
