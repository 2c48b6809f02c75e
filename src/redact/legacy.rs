//! Projection of legacy text onto a profile's legacy part: the body is read
//! as lines of items (`LABEL/value`, an unlabelled leading value, or text the
//! profile does not know); only items the profile names, with values it
//! allows, are written out. Control characters separate items and are never
//! written; non-ASCII bytes make the item they are in unreleasable. The
//! output therefore holds printable ASCII, spaces, tabs and line breaks only,
//! so what a terminal shows is exactly what was checked.
//!
//! Boundaries are generous (any `word:`, `word/`, `word=`, ... after a blank
//! starts a new item; two blanks end a value): a wrong split only ever drops
//! data, never glues an unknown field to a released one.

use super::profile::{trim_end, LegacyProfile};

/// Counts of one projection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Projected {
    /// Items written.
    pub kept: u32,
    /// Items not written (unknown labels, unlabelled text, bad values, lines).
    pub removed: u32,
}

/// Longest label token considered.
const MAX_LABEL: usize = 32;

fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Characters that, after a word, make it a label for boundary purposes.
fn is_boundary_sep(b: u8) -> bool {
    matches!(
        b,
        b'/' | b':' | b'=' | b'(' | b'[' | b'{' | b'<' | b'|' | b'#'
    )
}

/// If a label-looking word starts at `i` (`[A-Za-z][A-Za-z0-9_]*`, then an
/// optional blank, then a separator), the index of the separator.
pub(crate) fn boundary_label(line: &[u8], i: usize) -> Option<usize> {
    if !line.get(i)?.is_ascii_alphabetic() {
        return None;
    }
    let mut j = i + 1;
    while j < line.len()
        && j - i < MAX_LABEL
        && (line[j].is_ascii_alphanumeric() || line[j] == b'_')
    {
        j += 1;
    }
    if j < line.len() && is_boundary_sep(line[j]) {
        return Some(j);
    }
    if j + 1 < line.len() && line[j] == b' ' && is_boundary_sep(line[j + 1]) {
        return Some(j + 1);
    }
    None
}

/// A strict profile label at `i`: `[A-Z][A-Z0-9]*` directly followed by a
/// separator byte; returns (label end, separator).
fn strict_label(line: &[u8], i: usize) -> Option<(usize, u8)> {
    if !line.get(i)?.is_ascii_uppercase() {
        return None;
    }
    let mut j = i + 1;
    while j < line.len()
        && j - i < MAX_LABEL
        && (line[j].is_ascii_uppercase() || line[j].is_ascii_digit())
    {
        j += 1;
    }
    let s = *line.get(j)?;
    matches!(s, b'/' | b':' | b'=').then_some((j, s))
}

/// End of a value (or of unlabelled text) starting at `i`, and whether a
/// terminating period follows it.
pub(crate) fn value_end(line: &[u8], i: usize) -> (usize, bool) {
    let mut j = i;
    while j < line.len() {
        let b = line[j];
        if is_ctl(b) {
            return (j, false);
        }
        if b == b'.' && (j + 1 == line.len() || strict_label(line, j + 1).is_some()) {
            return (j, true);
        }
        if is_blank(b) {
            let mut k = j;
            while k < line.len() && is_blank(line[k]) {
                k += 1;
            }
            if k - j >= 2 || k == line.len() || boundary_label(line, k).is_some() {
                return (j, false);
            }
            j = k;
            continue;
        }
        j += 1;
    }
    (j, false)
}

/// One item of a line.
#[derive(Clone, Copy, Debug)]
pub struct Item {
    /// Separator bytes before the item.
    pub pre: (usize, usize),
    /// The item (label, separator and value, or text).
    pub span: (usize, usize),
    /// For a labelled item: where the label ends, and its separator.
    pub label: Option<(usize, u8)>,
    /// The value (trailing blanks trimmed), or the text of an unlabelled item.
    pub value: (usize, usize),
    /// A terminating period follows the item.
    pub period: bool,
    /// The profile releases it.
    pub keep: bool,
}

/// Splits one line into items, deciding each against `p` (nothing is kept
/// without a profile: that is how `policy profile --learn` reads a body).
pub fn items(line: &[u8], p: Option<&LegacyProfile>, first_line: bool, out: &mut Vec<Item>) {
    out.clear();
    let mut i = 0;
    loop {
        let pre_start = i;
        while i < line.len() && (is_blank(line[i]) || is_ctl(line[i])) {
            i += 1;
        }
        if i >= line.len() {
            return;
        }
        let start = i;
        let label = strict_label(line, i);
        let vstart = label.map_or(i, |(le, _)| le + 1);
        let (ve, period) = value_end(line, vstart);
        let v = trim_end(&line[vstart..ve]);
        let keep = match (p, label) {
            (Some(p), Some((le, sep))) => p.field(&line[i..le], sep).is_some_and(|r| r.allows(v)),
            (Some(p), None) => {
                first_line && out.is_empty() && p.leading.as_ref().is_some_and(|r| r.allows(v))
            }
            (None, _) => false,
        };
        // An item never ends where it starts (a control character or a
        // period is consumed as part of the junk then).
        let end = ve.max(start + 1).min(line.len());
        out.push(Item {
            pre: (pre_start, start),
            span: (start, end),
            label,
            value: (vstart.min(end), (vstart + v.len()).min(end)),
            period,
            keep: keep
                && line[start..end]
                    .iter()
                    .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t'),
        });
        i = if period { end + 1 } else { end };
    }
}

/// A leading unlabelled value is released only on a line that also carries
/// a released labelled field (the name before `DOB/...` in Nlets layouts),
/// never as a line of its own.
fn settle_leading(its: &mut [Item]) {
    if its.first().is_some_and(|f| f.keep && f.label.is_none()) && !its[1..].iter().any(|i| i.keep)
    {
        its[0].keep = false;
    }
}

/// Projects `body` onto `p`, appending the result to `out`.
pub fn project(body: &[u8], p: &LegacyProfile, out: &mut Vec<u8>) -> Projected {
    project_with(body, p, true, out)
}

/// [`project`], saying whether the profile's unlabelled leading value may
/// be released here (only once per message: the first free text).
pub fn project_with(body: &[u8], p: &LegacyProfile, leading: bool, out: &mut Vec<u8>) -> Projected {
    let mut st = Projected::default();
    let mut its = Vec::new();
    let mut first_line = leading;
    let mut pos = 0;
    while pos < body.len() {
        let nl = memchr::memchr2(b'\n', b'\r', &body[pos..]).map_or(body.len(), |e| pos + e);
        let line = &body[pos..nl];
        // The line break as written; a lone CR (overprint) becomes CRLF.
        let (brk, next): (&[u8], usize) = if nl >= body.len() {
            (b"", nl)
        } else if body[nl] == b'\r' && body.get(nl + 1) == Some(&b'\n') {
            (b"\r\n", nl + 2)
        } else if body[nl] == b'\r' {
            (b"\r\n", nl + 1)
        } else {
            (b"\n", nl + 1)
        };
        pos = next;
        if line.iter().all(|&b| is_blank(b)) {
            if line.iter().all(|&b| b == b' ') {
                out.extend_from_slice(line);
            }
            out.extend_from_slice(brk);
            continue;
        }
        if p.literal(line)
            && line
                .iter()
                .all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
        {
            out.extend_from_slice(line);
            out.extend_from_slice(brk);
            st.kept += 1;
            first_line = false;
            continue;
        }
        items(line, Some(p), first_line, &mut its);
        settle_leading(&mut its);
        first_line = false;
        let before = out.len();
        let mut wrote = 0usize;
        let mut last_period = false;
        for (k, it) in its.iter().enumerate() {
            if !it.keep {
                st.removed += 1;
                continue;
            }
            st.kept += 1;
            if wrote == 0 {
                if k == 0 {
                    // Indentation of the line, blanks only.
                    out.extend(
                        line[it.pre.0..it.pre.1]
                            .iter()
                            .copied()
                            .filter(|&b| is_blank(b)),
                    );
                }
            } else if last_period {
                out.push(b'.');
            } else {
                let n = out.len();
                out.extend(
                    line[it.pre.0..it.pre.1]
                        .iter()
                        .copied()
                        .filter(|&b| is_blank(b)),
                );
                if out.len() == n {
                    out.push(b' ');
                }
            }
            out.extend_from_slice(&line[it.span.0..it.span.1]);
            last_period = it.period;
            wrote += 1;
        }
        if wrote > 0 {
            if last_period && its.last().is_some_and(|l| l.keep) {
                out.push(b'.');
            }
            out.extend_from_slice(brk);
        } else {
            out.truncate(before);
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::profile::Profile;

    fn run(body: &str) -> String {
        let p = Profile::builtin();
        let mut out = Vec::new();
        project(body.as_bytes(), &p.legacy, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ncic_style() {
        assert_eq!(
            run("NAM/DOE,JANE Q.DOB/19800115.SEX/F.POB/MX.OLN/000000000"),
            "NAM/DOE,JANE Q.DOB/19800115.SEX/F.OLN/000000000"
        );
        assert_eq!(run("SEX/F.POB/MX"), "SEX/F");
        assert_eq!(run("SEX/F.POB/MX."), "SEX/F");
        assert_eq!(run("NAM/DOE.SEX/F."), "NAM/DOE.SEX/F.");
    }

    #[test]
    fn columns() {
        assert_eq!(
            run("DOE, JANE Q  DOB/19800115 SEX/F OLN/000000000 STATUS/VALID\r\nPOB/MX\r\nEND OF RECORD"),
            "DOE, JANE Q  DOB/19800115 SEX/F OLN/000000000 STATUS/VALID\r\nEND OF RECORD"
        );
        assert_eq!(
            run("SEX/F  BIRTH STATE: MX\nEXP/20290115"),
            "SEX/F\nEXP/20290115"
        );
        assert_eq!(run("SEX/F BIRTH STATE: MX"), "");
        assert_eq!(run("NAM/DOE   PLACE OF BIRTH MEXICO"), "NAM/DOE");
        assert_eq!(run("OLN/1 ADDR/123 MAIN ST\nMEXICO"), "OLN/1\n");
    }

    #[test]
    fn unknown_lines_and_leading_only_first() {
        assert_eq!(run("PLACE OF BIRTH:\nMEXICO"), "");
        assert_eq!(run("DOE, JANE\nMEXICO\nSEX/F"), "SEX/F");
        assert_eq!(
            run("DOE, JANE SEX/F\nMEXICO SEX/F"),
            "DOE, JANE SEX/F\nSEX/F"
        );
        assert_eq!(run("COUNTRY OF BIRTH MX"), "");
        assert_eq!(run("BORN IN MEXICO"), "");
    }

    #[test]
    fn controls_and_non_ascii() {
        assert_eq!(run("SEX/F\x08\x08\x08\x08\x08POB/MX"), "SEX/F");
        assert_eq!(run("MX\rPOB/\nSEX/F"), "SEX/F");
        assert_eq!(run("SEX/F\rSEX/M"), "SEX/F\r\nSEX/M");
        assert_eq!(run("NAM/DO\u{0415}\nSEX/F"), "SEX/F");
        assert_eq!(run("SEX/F\x1b[2DPOB/MX"), "SEX/F");
        assert_eq!(run("SEX/F\x07DOB/19800115"), "SEX/F DOB/19800115");
    }
}
