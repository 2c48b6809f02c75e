//! Legacy-text field rules: finding and cutting `POB/value.`-style fields and
//! `PLACE OF BIRTH ...` labels in legacy bodies and in XML free text.
//!
//! Matching is as permissive as the most permissive receiver: prefixes are
//! case-insensitive, and control characters (which Nlets receivers ignore)
//! may sit anywhere inside a prefix or between it and its `/`. A value ends at
//! a period that terminates the field (followed by the end, a line end, or
//! another `XXX/` prefix), at a line end, or at the end of the text; a period
//! inside a value (`ST. LOUIS`) does not end it. This errs towards removing
//! too much, never too little.

use super::fields::{starts_with_bytes, Catalogue, CompiledRule, FieldId, FieldSet, TextRuleKind};

/// A match of one rule: the byte range to remove and its field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextMatch {
    /// First byte to remove.
    pub start: usize,
    /// One past the last byte to remove.
    pub end: usize,
    /// The field the rule belongs to.
    pub field: FieldId,
    /// The value is empty up to the end of the line: it may continue on the
    /// next line or in the next element, so it cannot be cut with certainty.
    pub empty: bool,
}

/// Most rounds of re-scanning after a cut before giving up (a cut can join
/// two halves into a new prefix; each round removes at least one match).
pub const MAX_ROUNDS: usize = 8;

fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

fn is_eol(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Matches `label` at `i`; returns the index just past it.
fn match_label(text: &[u8], i: usize, label: &[u8]) -> Option<usize> {
    let mut j = i;
    for (k, &c) in label.iter().enumerate() {
        if c == b' ' {
            while j < text.len() && (is_ctl(text[j]) || text[j] == b' ' || text[j] == b'\t') {
                j += 1;
            }
            continue;
        }
        if k > 0 {
            while j < text.len() && is_ctl(text[j]) {
                j += 1;
            }
        }
        if j >= text.len() || text[j].to_ascii_uppercase() != c {
            return None;
        }
        j += 1;
    }
    Some(j)
}

/// True when a period just before `k` ends a field.
fn period_terminates(text: &[u8], mut k: usize) -> bool {
    while k < text.len() && is_ctl(text[k]) && !is_eol(text[k]) {
        k += 1;
    }
    if k >= text.len() || is_eol(text[k]) {
        return true;
    }
    let start = k;
    // NCIC/Nlets field prefixes are three characters (NAM, DOB, SEX, OLN):
    // only ". XXX/" ends a value, so "ST.PAUL/..." stays inside it.
    while k < text.len() && k - start < 3 && text[k].is_ascii_alphanumeric() {
        k += 1;
    }
    if k - start != 3 || (k < text.len() && text[k].is_ascii_alphanumeric()) {
        return false;
    }
    while k < text.len() && (text[k] == b' ' || (is_ctl(text[k]) && !is_eol(text[k]))) {
        k += 1;
    }
    k < text.len() && text[k] == b'/'
}

fn blank(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        is_ctl(b) || b == b' ' || b == b'\t' || b == b'.' || b == b':' || b == b'/' || b == b'-'
    })
}

fn match_rule(text: &[u8], i: usize, rule: &CompiledRule) -> Option<TextMatch> {
    // A field prefix must start a word: `XPOB/` inside base64 or another
    // word is not a field (the stricter verifier still refuses it).
    if rule.kind == TextRuleKind::Field && i > 0 && text[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let mut j = match_label(text, i, &rule.label)?;
    match rule.kind {
        TextRuleKind::Field => {
            let after_label = j;
            while j < text.len()
                && (is_ctl(text[j]) || text[j] == b' ' || text[j] == b'\t')
                && !is_eol(text[j])
            {
                j += 1;
            }
            if j < text.len() && (text[j] == b'/' || text[j] == b':') {
                j += 1;
            } else if !(j > after_label && j < text.len() && text[j].is_ascii_alphanumeric()) {
                // Neither a separator nor "POB MX" (label, blank, value).
                return None;
            }
            let mut k = j;
            let mut end = text.len();
            let mut by_period = false;
            while k < text.len() {
                let b = text[k];
                if is_eol(b) {
                    end = k;
                    break;
                }
                if b == b'.' && period_terminates(text, k + 1) {
                    end = k + 1;
                    by_period = true;
                    break;
                }
                k += 1;
            }
            // A last field loses the period that separated it from the one
            // before, so `SEX/F.POB/MX` becomes `SEX/F`, not `SEX/F.`.
            let start = if !by_period && i > 0 && text[i - 1] == b'.' {
                i - 1
            } else {
                i
            };
            Some(TextMatch {
                start,
                end,
                field: rule.field,
                empty: blank(&text[j..end]),
            })
        }
        TextRuleKind::Label => {
            let end = memchr::memchr2(b'\n', b'\r', &text[j..]).map_or(text.len(), |e| j + e);
            Some(TextMatch {
                start: i,
                end,
                field: rule.field,
                empty: blank(&text[j..end]),
            })
        }
    }
}

/// The first match at or after `from` of a rule of a field in `fields`.
pub fn find(cat: &Catalogue, fields: FieldSet, text: &[u8], from: usize) -> Option<TextMatch> {
    if fields.is_empty() {
        return None;
    }
    let mask = fields.0;
    let first = &*cat.first;
    let mut i = from;
    while i < text.len() {
        // Skip to the next byte that starts a label of one of the fields.
        i += text[i..]
            .iter()
            .position(|&b| first[b as usize] & mask != 0)?;
        let next = text.get(i + 1).copied();
        if let Some(nb) = next {
            // No rule of any field can start with this pair of bytes.
            let bit = (text[i] as usize) << 8 | nb as usize;
            if cat.pairs[bit >> 6] & (1 << (bit & 63)) == 0 {
                i += 1;
                continue;
            }
        }
        for &ri in cat.by_first[text[i] as usize].iter() {
            let rule = &cat.rules[ri as usize];
            if mask & (1 << rule.field.0) == 0 {
                continue;
            }
            // The label's second byte (control characters may sit between):
            // what `match_label` would refuse first, without the call.
            if let (Some(s), Some(nb)) = (rule.second, next) {
                if !is_ctl(nb) && nb.to_ascii_uppercase() != s {
                    continue;
                }
            }
            if let Some(found) = match_rule(text, i, rule) {
                return Some(found);
            }
        }
        i += 1;
    }
    None
}

/// Fields of `fields` with a rule or a marker present anywhere in `text`.
pub fn present(cat: &Catalogue, fields: FieldSet, text: &[u8]) -> FieldSet {
    let mut out = FieldSet::EMPTY;
    let mut from = 0;
    while let Some(m) = find(cat, fields.intersect(FieldSet(!out.0)), text, from) {
        out.insert(m.field);
        from = m.start.max(from) + 1;
    }
    out.union(markers(cat, fields, text))
}

/// Texts longer than this are searched one marker at a time (memmem);
/// shorter ones in one pass over the text.
const MARKER_PASS_MAX: usize = 256;

/// Fields of `fields` whose markers occur in `text` (case-sensitive).
pub fn markers(cat: &Catalogue, fields: FieldSet, text: &[u8]) -> FieldSet {
    let mut out = FieldSet::EMPTY;
    let mut pending = fields.intersect(cat.marker_fields);
    if text.len() < cat.min_marker || pending.is_empty() {
        return out;
    }
    if text.len() > MARKER_PASS_MAX {
        for (m, id) in &cat.markers {
            if pending.contains(*id) && m.find(text).is_some() {
                out.insert(*id);
                pending.0 &= !(1 << id.0);
            }
        }
        return out;
    }
    // One pass: at each byte that starts a marker of a pending field,
    // compare those markers.
    for (i, &b) in text.iter().enumerate() {
        if cat.marker_first[b as usize] & pending.0 == 0 {
            continue;
        }
        for &mi in cat.marker_by_first[b as usize].iter() {
            let (m, id) = &cat.markers[mi as usize];
            if pending.contains(*id) && starts_with_bytes(&text[i..], m.needle()) {
                out.insert(*id);
                pending.0 &= !(1 << id.0);
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    out
}

/// Why a text could not be redacted with certainty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextRefusal {
    /// A marker of a field to remove is present (e.g. an embedded image).
    Marker(FieldId),
    /// Cutting kept creating new matches (of this field).
    NoFixpoint(FieldId),
    /// A label with no value on its line: the value may follow on the next
    /// line or in the next element.
    EmptyValue(FieldId),
}

/// Removes every match of a field in `fields` from `text`, appending the
/// result to `out`. Returns the fields removed. Repeats until nothing matches
/// (a cut can join two halves into a new prefix).
pub fn redact(
    cat: &Catalogue,
    fields: FieldSet,
    text: &[u8],
    out: &mut Vec<u8>,
) -> Result<FieldSet, TextRefusal> {
    if let Some(id) = markers(cat, fields, text).iter().next() {
        return Err(TextRefusal::Marker(id));
    }
    let mut removed = FieldSet::EMPTY;
    let mut empty = None;
    let base = out.len();
    let first = cut_once(cat, fields, text, out, &mut removed, &mut empty);
    if let Some(f) = empty {
        return Err(TextRefusal::EmptyValue(f));
    }
    if first.is_none() {
        return Ok(removed);
    }
    let mut scratch = Vec::new();
    let mut last = None;
    for _ in 0..MAX_ROUNDS {
        scratch.clear();
        scratch.extend_from_slice(&out[base..]);
        out.truncate(base);
        last = cut_once(cat, fields, &scratch, out, &mut removed, &mut empty);
        if let Some(f) = empty {
            return Err(TextRefusal::EmptyValue(f));
        }
        if last.is_none() {
            return Ok(removed);
        }
    }
    Err(TextRefusal::NoFixpoint(last.unwrap_or(FieldId(0))))
}

/// One pass: copies `text` to `out` without the matches. Returns the field
/// of the last match cut, if anything was cut.
fn cut_once(
    cat: &Catalogue,
    fields: FieldSet,
    text: &[u8],
    out: &mut Vec<u8>,
    removed: &mut FieldSet,
    empty: &mut Option<FieldId>,
) -> Option<FieldId> {
    let mut copied = 0;
    let mut from = 0;
    let mut cut = None;
    while let Some(m) = find(cat, fields, text, from) {
        if m.empty {
            *empty = Some(m.field);
        }
        let start = m.start.max(copied);
        out.extend_from_slice(&text[copied..start]);
        copied = m.end.max(copied);
        from = m.end.max(m.start + 1);
        removed.insert(m.field);
        cut = Some(m.field);
    }
    out.extend_from_slice(&text[copied..]);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::{PHOTO, POB};

    fn pob() -> FieldSet {
        let mut s = FieldSet::EMPTY;
        s.insert(POB);
        s
    }

    fn cut(text: &str) -> String {
        let cat = Catalogue::builtin();
        let mut out = Vec::new();
        redact(&cat, pob(), text.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn field_forms() {
        assert_eq!(cut("NAM/DOE.POB/MX.SEX/F"), "NAM/DOE.SEX/F");
        assert_eq!(cut("SEX/F.POB/MX"), "SEX/F");
        assert_eq!(cut("A\r\nPOB/MX\r\nB"), "A\r\n\r\nB");
        assert_eq!(cut("pob/mx.SEX/F"), "SEX/F");
        assert_eq!(cut("Pob/mx.SEX/F"), "SEX/F");
        assert_eq!(cut("P\x07OB/MX.SEX/F"), "SEX/F");
        assert_eq!(cut("PO\r\nB/MX.SEX/F"), "SEX/F");
        assert_eq!(cut("P\x7fOB /MX.SEX/F"), "SEX/F");
        assert_eq!(cut("POB: MX\nX"), "\nX");
        assert_eq!(cut("POB/ST. LOUIS MO\nNEXT"), "\nNEXT");
        assert_eq!(cut("POB/MX. \n"), "\n");
        assert_eq!(cut("POB/ST.LOUIS/MX\nNEXT"), "\nNEXT");
        assert_eq!(cut("PLACE OF BIRTH: MEXICO CITY, MX\r\nOLN/1"), "\r\nOLN/1");
        assert_eq!(cut("place  of\x07birth MEXICO"), "");
        assert_eq!(cut("BIRTHPLACE: X\nY"), "\nY");
        assert_eq!(cut("POBOX 12"), "POBOX 12");
        assert_eq!(cut("SEX/F POB MX\nX"), "SEX/F \nX");
        assert_eq!(cut("NO FIELD HERE"), "NO FIELD HERE");
    }

    #[test]
    fn cut_creates_new_match_then_fixpoint() {
        // Control characters (ignored by receivers) let a cut join "PO" and
        // "B/" across the removed field: the second round removes the new one.
        assert_eq!(cut("PO\x07POB/X\nB/Y"), "");
        // Inside a word a prefix is not a field.
        assert_eq!(cut("XPOB/Y.Z/1"), "XPOB/Y.Z/1");
    }

    /// `find` as it was before the second-byte filter: every position,
    /// every rule whose label starts with that byte.
    fn find_reference(
        cat: &Catalogue,
        fields: FieldSet,
        text: &[u8],
        from: usize,
    ) -> Option<TextMatch> {
        if fields.is_empty() {
            return None;
        }
        let mask = fields.0;
        let mut i = from;
        while i < text.len() {
            if cat.first[text[i] as usize] & mask != 0 {
                for &ri in cat.by_first[text[i] as usize].iter() {
                    let rule = &cat.rules[ri as usize];
                    if mask & (1 << rule.field.0) != 0 {
                        if let Some(found) = match_rule(text, i, rule) {
                            return Some(found);
                        }
                    }
                }
            }
            i += 1;
        }
        None
    }

    /// `markers` as it was before the one-pass scan: one memmem per marker.
    fn markers_reference(cat: &Catalogue, fields: FieldSet, text: &[u8]) -> FieldSet {
        let mut out = FieldSet::EMPTY;
        if text.len() < cat.min_marker {
            return out;
        }
        for (m, id) in &cat.markers {
            if fields.contains(*id) && m.find(text).is_some() {
                out.insert(*id);
            }
        }
        out
    }

    /// The built-in catalogue and one with odd rules and markers: labels
    /// with digits, a one-byte label, a label whose second byte is a space
    /// or a digit, markers sharing first bytes across two fields.
    fn catalogues() -> Vec<Catalogue> {
        use crate::message::fields::{FieldDef, TextRule, TextRuleKind};
        let rule = |label: &str, kind| TextRule {
            label: label.into(),
            kind,
        };
        let odd = Catalogue::builtin()
            .with_field(FieldDef {
                name: "odd".into(),
                elements: vec![],
                text_rules: vec![
                    rule("Q", TextRuleKind::Field),
                    rule("P OB", TextRuleKind::Label),
                    rule("P9", TextRuleKind::Field),
                    rule("pl.", TextRuleKind::Label),
                ],
                markers: vec!["/9".into(), "FFD8".into(), "x".into()],
                binary: vec![],
            })
            .unwrap();
        vec![Catalogue::builtin(), odd]
    }

    fn field_sets(cat: &Catalogue, mask: u32) -> [FieldSet; 4] {
        [cat.all(), FieldSet(mask), pob(), FieldSet(mask & !pob().0)]
    }

    /// Every match of a scan the way `cut_once` and `present` walk them.
    fn walk_all(
        f: impl Fn(&Catalogue, FieldSet, &[u8], usize) -> Option<TextMatch>,
        cat: &Catalogue,
        fields: FieldSet,
        text: &[u8],
    ) -> Vec<TextMatch> {
        let mut v = Vec::new();
        let mut from = 0;
        while let Some(m) = f(cat, fields, text, from) {
            v.push(m);
            from = m.end.max(m.start + 1);
        }
        v
    }

    fn text_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let pieces: Vec<&'static [u8]> = vec![
            b"POB",
            b"pob",
            b"Po",
            b"B",
            b"P",
            b"O",
            b"PLACE OF BIRTH",
            b"place",
            b"OF",
            b"BIRTH",
            b"BIRTH PLACE",
            b"SOC",
            b"SSN",
            b"SOCIAL SECURITY",
            b"IDD",
            b"ID DOCUMENTS",
            b"IDENTITY DOCUMENTS",
            b"DOCUMENTS PRESENTED",
            b"Q",
            b"P9",
            b"PL.",
            b"/",
            b":",
            b".",
            b" ",
            b"  ",
            b"\t",
            b"\r\n",
            b"\n",
            b"\r",
            b"\x07",
            b"\x7f",
            b"\x00",
            b"MX",
            b"ST. LOUIS",
            b"NAM",
            b"SEX",
            b"X",
            b"9",
            b"/9j/",
            b"_9j_",
            b"AAAADGpQ",
            b"/0//UQ",
            b"iVBORw0KGgo",
            b"FFD8FF",
            b"ffd8ff",
            b"FFD8",
            b"/9",
            b"x",
            b"P\x07OB",
            b"PO\r\nB",
            b"p\x7fob",
            b"S\x00SN",
            b"I\x1bDD",
            b"B\x07IRTH\x07PLACE",
            b"Q\x07",
            b"P\n9",
        ];
        let piece = prop_oneof![
            8 => proptest::sample::select(pieces).prop_map(<[u8]>::to_vec),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ];
        prop_oneof![
            8 => proptest::collection::vec(piece.clone(), 0..24),
            1 => proptest::collection::vec(piece, 80..200),
        ]
        .prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        #[test]
        fn scans_same_as_reference(text in text_strategy(), mask in proptest::prelude::any::<u32>()) {
            for cat in catalogues() {
                for fields in field_sets(&cat, mask) {
                    for from in 0..=text.len() + 1 {
                        proptest::prop_assert_eq!(
                            find(&cat, fields, &text, from),
                            find_reference(&cat, fields, &text, from)
                        );
                    }
                    proptest::prop_assert_eq!(
                        markers(&cat, fields, &text),
                        markers_reference(&cat, fields, &text)
                    );
                }
            }
        }
    }

    /// The generator's messages, whole and as legacy bodies, under every
    /// field set: the same matches, the same markers, the same cuts.
    #[test]
    fn scans_same_as_reference_on_generated_traffic() {
        use crate::capture::gen::{Generator, Mix, Shape};
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for (seed, shape) in [(1, Shape::Mixed), (2, Shape::Small), (3, Shape::Photo)] {
            let mut g = Generator::new(
                seed,
                Mix {
                    shape,
                    ..Mix::default()
                },
            );
            for k in 0..150 {
                texts.push(g.message(k % 3 == 0).to_vec());
            }
        }
        for cat in catalogues() {
            for t in &texts {
                for fields in field_sets(&cat, 0b1_0110) {
                    assert_eq!(
                        walk_all(find, &cat, fields, t),
                        walk_all(find_reference, &cat, fields, t)
                    );
                    assert_eq!(markers(&cat, fields, t), markers_reference(&cat, fields, t));
                    for w in t.chunks(200) {
                        assert_eq!(markers(&cat, fields, w), markers_reference(&cat, fields, w));
                    }
                }
            }
        }
    }

    #[test]
    fn markers_refuse() {
        let cat = Catalogue::builtin();
        let mut photo = FieldSet::EMPTY;
        photo.insert(PHOTO);
        let mut out = Vec::new();
        assert_eq!(
            redact(&cat, photo, b"IMG /9j/4AAQSkZJRg", &mut out),
            Err(TextRefusal::Marker(PHOTO))
        );
        assert!(present(&cat, cat.all(), b"x POB/MX").contains(POB));
        assert!(present(&cat, cat.all(), b"/9j/4AAQ").contains(PHOTO));
    }
}
