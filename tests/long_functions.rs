//! No function over about 80 lines without a one-line reason (issue 25).
//!
//! A long function is sometimes the clearest form: one table of data, one
//! match with a short arm per case, the steps of a sequence in the order the
//! spec states them. Sometimes it is a function nobody split. The issue asks
//! that each one says which it is, and that the check catch drift: a function
//! that grows past the limit, or a new long one, fails here until it is split
//! or gives its reason.
//!
//! What is checked, on the source text alone (std only, no parser crate):
//!
//! * every `src/**/*.rs` except `tests.rs` and `*_tests.rs` files;
//! * comments (line and nested block), strings (plain, raw `r#"…"#`, byte
//!   `b"…"` and `br"…"`) and char literals (not lifetimes) are masked first,
//!   so a brace or a `fn` inside them counts for nothing;
//! * items under `#[cfg(test)]` (a `mod`, `fn` or `impl` with a body) are
//!   skipped;
//! * each `fn NAME` with a `{` body is measured from the `fn` line to the
//!   line of its closing brace;
//! * a function over [`LIMIT`] lines needs a reason: a `// Long: …` or
//!   `// Long (…): …` comment among the comment and attribute lines directly
//!   above the `fn` line, or on the first line inside its body.
//!
//! `long_functions_have_a_reason` fails listing every function over the
//! limit without one (`file:line name (N lines)`), and prints all of them
//! with their reasons (`--nocapture`):
//!
//! ```text
//! cargo test --test long_functions -- --nocapture
//! ```
//!
//! `detector_finds_what_it_should` proves the detector on synthetic sources.

use std::path::{Path, PathBuf};

/// Lines a function may have without giving a reason.
const LIMIT: usize = 80;

/// A function over the limit.
#[derive(Debug)]
struct Long {
    line: usize,
    name: String,
    lines: usize,
    reason: Option<String>,
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The source with comments, strings and char literals replaced by spaces
/// (newlines kept, so line numbers and byte positions stay the same).
fn mask(src: &str) -> Vec<u8> {
    let s = src.as_bytes();
    let n = s.len();
    let mut out = s.to_vec();
    let blank = |out: &mut Vec<u8>, a: usize, b: usize| {
        for c in &mut out[a..b.min(n)] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let at = |i: usize, p: &[u8]| s[i..].starts_with(p);
    let mut i = 0;
    while i < n {
        let c = s[i];
        let after_ident = i > 0 && is_ident(s[i - 1]);
        if at(i, b"//") {
            let j = s[i..].iter().position(|&b| b == b'\n').map_or(n, |k| i + k);
            blank(&mut out, i, j);
            i = j;
            continue;
        }
        if at(i, b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < n && depth > 0 {
                if at(j, b"/*") {
                    depth += 1;
                    j += 2;
                } else if at(j, b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
            continue;
        }
        if !after_ident {
            if let Some(end) = raw_string_end(s, i) {
                blank(&mut out, i, end);
                i = end;
                continue;
            }
        }
        if c == b'"' || (c == b'b' && !after_ident && i + 1 < n && s[i + 1] == b'"') {
            let mut j = i + if c == b'b' { 2 } else { 1 };
            while j < n && s[j] != b'"' {
                j += if s[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
            continue;
        }
        if c == b'\'' {
            if let Some(len) = char_literal_len(src, i) {
                blank(&mut out, i, i + len);
                i += len;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Where a raw string (`r"…"`, `r#"…"#`, `br"…"`) starting at `i` ends.
fn raw_string_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if s.get(j) == Some(&b'b') {
        j += 1;
    }
    if s.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&b| b == b'#').count();
    j += hashes;
    if s.get(j) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    Some(
        s[j + 1..]
            .windows(close.len())
            .position(|w| w == close.as_slice())
            .map_or(s.len(), |k| j + 1 + k + close.len()),
    )
}

/// The length of a char literal starting at `i` (`'x'`, `'\n'`, `'\u{..}'`),
/// or `None` for a lifetime or label.
fn char_literal_len(src: &str, i: usize) -> Option<usize> {
    let rest = &src[i + 1..];
    let mut chars = rest.char_indices();
    match chars.next()? {
        (_, '\\') => {
            // An escape (`\n`, `\'`, `\u{..}`): past the escaped character
            // to the next quote, within a short span.
            let k = rest.get(2..)?.find('\'')?;
            (k + 4 <= 12).then_some(k + 4)
        }
        (_, '\'') | (_, '\n') => None,
        (_, c) => (rest[c.len_utf8()..].starts_with('\'')).then_some(c.len_utf8() + 2),
    }
}

/// The position of the brace that closes the one at `k`.
fn match_brace(m: &[u8], k: usize) -> usize {
    let mut depth = 0i64;
    for (j, &c) in m.iter().enumerate().skip(k) {
        if c == b'{' {
            depth += 1;
        } else if c == b'}' {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    m.len().saturating_sub(1)
}

fn find(m: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    m.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|k| from + k)
}

/// The byte ranges of items under `#[cfg(test)]` that have a body.
fn test_ranges(m: &[u8]) -> Vec<(usize, usize)> {
    let attr = b"#[cfg(test)]";
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = find(m, from, attr) {
        let k = start + attr.len();
        from = k;
        let Some(brace) = m[k..].iter().position(|&b| b == b'{').map(|j| k + j) else {
            continue;
        };
        if m[k..brace].contains(&b';') {
            continue; // `#[cfg(test)] mod tests;` and the like.
        }
        out.push((start, match_brace(m, brace)));
    }
    out
}

/// Every `fn` at position `pos` (with its name) in the masked source.
fn fns(m: &[u8]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(m, from, b"fn") {
        from = pos + 2;
        if pos > 0 && is_ident(m[pos - 1]) {
            continue;
        }
        let ws = m[pos + 2..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if ws == 0 {
            continue;
        }
        let start = pos + 2 + ws;
        let len = m[start..].iter().take_while(|&&b| is_ident(b)).count();
        if len == 0 || m[start].is_ascii_digit() {
            continue;
        }
        let name = String::from_utf8_lossy(&m[start..start + len]).into_owned();
        out.push((pos, name));
    }
    out
}

/// The `{` of the body of a `fn` whose name ends at `j`, or `None` for a
/// declaration without one (`fn f();` in a trait).
fn body_of(m: &[u8], mut j: usize) -> Option<usize> {
    let mut par = 0i64;
    while j < m.len() {
        match m[j] {
            b'(' | b'[' => par += 1,
            b')' | b']' => par -= 1,
            b';' if par == 0 => return None,
            b'{' if par == 0 => return Some(j),
            _ => {}
        }
        j += 1;
    }
    None
}

/// A `// Long: …` or `// Long (…): …` line.
fn is_reason(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("//") else {
        return false;
    };
    if rest.starts_with('/') {
        return false; // a doc comment is not the reason.
    }
    let Some(rest) = rest.trim_start().strip_prefix("Long") else {
        return false;
    };
    if rest.starts_with(':') {
        return true;
    }
    rest.strip_prefix(" (").and_then(|r| r.find("):")).is_some()
}

/// The reason given for the function whose `fn` is on line `l0` (1-based)
/// and whose body opens on line `lb`.
fn reason_for(lines: &[&str], l0: usize, lb: usize) -> Option<String> {
    let mut reason = None;
    for line in lines[..l0 - 1].iter().rev() {
        let s = line.trim();
        let above = s.starts_with("//")
            || s.starts_with("#[")
            || s.starts_with("#!")
            || s.starts_with(')')
            || s.starts_with(']');
        if !above {
            break;
        }
        if is_reason(s) {
            reason = Some(s.to_string());
        }
    }
    reason.or_else(|| {
        let inside = lines.get(lb).map_or("", |l| l.trim());
        is_reason(inside).then(|| format!("inside: {inside}"))
    })
}

/// Every function of `src` over `limit` lines, outside `#[cfg(test)]`.
fn long_functions(src: &str, limit: usize) -> Vec<Long> {
    let m = mask(src);
    let lines: Vec<&str> = src.split('\n').collect();
    let tests = test_ranges(&m);
    let line_of = |p: usize| m[..p].iter().filter(|&&b| b == b'\n').count() + 1;
    let mut out = Vec::new();
    for (pos, name) in fns(&m) {
        if tests.iter().any(|&(a, b)| a <= pos && pos <= b) {
            continue;
        }
        let Some(body) = body_of(&m, pos + 2) else {
            continue;
        };
        let end = match_brace(&m, body);
        let (l0, lb) = (line_of(pos), line_of(body));
        let n = line_of(end) - l0 + 1;
        if n <= limit {
            continue;
        }
        let reason = reason_for(&lines, l0, lb);
        out.push(Long {
            line: l0,
            name,
            lines: n,
            reason,
        });
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(p);
        }
    }
}

#[test]
fn long_functions_have_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rs_files(&root.join("src"), &mut files);
    assert!(files.len() > 10, "src/ read: {} files", files.len());
    let mut all = Vec::new();
    for p in &files {
        let src = std::fs::read_to_string(p).unwrap();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        for f in long_functions(&src, LIMIT) {
            all.push((rel.clone(), f));
        }
    }
    all.sort_by(|a, b| {
        b.1.lines
            .cmp(&a.1.lines)
            .then(a.0.cmp(&b.0))
            .then(a.1.line.cmp(&b.1.line))
    });
    let mut missing = Vec::new();
    for (file, f) in &all {
        let at = format!("{file}:{} {} ({} lines)", f.line, f.name, f.lines);
        match &f.reason {
            Some(r) => println!("{at}  {r}"),
            None => {
                println!("{at}  NO REASON");
                missing.push(at);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} function(s) over {LIMIT} lines without a `// Long: …` reason \
         (split it, or say in one line why it stays one function):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// A function `name` of `n` lines in all, `head` its first body line(s).
fn synthetic(name: &str, n: usize, head: &str) -> String {
    let mut s = format!("fn {name}() {{\n{head}\n");
    for k in 0..n - 2 - head.lines().count().max(1) {
        s.push_str(&format!("    let _x{k} = {k};\n"));
    }
    s.push_str("}\n");
    s
}

#[test]
fn detector_finds_what_it_should() {
    let names = |src: &str| -> Vec<(String, usize, bool)> {
        long_functions(src, LIMIT)
            .into_iter()
            .map(|f| (f.name, f.lines, f.reason.is_some()))
            .collect()
    };
    let body = synthetic("big", 90, "    let a = 1;");
    assert_eq!(names(&body), [("big".to_string(), 90, false)]);

    // Short functions are not listed; the limit itself is allowed.
    assert!(names(&synthetic("small", 80, "")).is_empty());
    assert_eq!(names(&synthetic("edge", 81, "")).len(), 1);

    // A reason above, after the doc comment and around attributes, or on
    // the first line inside.
    let above = format!("/// Does it.\n// Long: one table of data.\n#[inline]\npub {body}");
    assert_eq!(names(&above), [("big".to_string(), 90, true)]);
    let paren = format!("// Long (~90 lines): one match, one arm per kind.\n{body}");
    assert_eq!(names(&paren), [("big".to_string(), 90, true)]);
    let inside = synthetic("big", 90, "    // Long: the steps in spec order.");
    assert_eq!(names(&inside), [("big".to_string(), 90, true)]);
    // Not a reason: a doc comment, a comment above a blank line, other words.
    for not in [
        "/// Long: doc.\n",
        "// Long: far away.\n\n",
        "// Longest wait.\n",
        "// Long lines.\n",
    ] {
        assert_eq!(
            names(&format!("{not}{body}")),
            [("big".to_string(), 90, false)],
            "{not:?}"
        );
    }

    // Inside `#[cfg(test)]`: not listed; after it ends, listed again.
    let t = format!("#[cfg(test)]\nmod t {{\n    use super::*;\n{body}}}\n");
    assert!(names(&t).is_empty());
    let after = format!("#[cfg(test)]\nmod t;\n{body}");
    assert_eq!(names(&after).len(), 1);
    let t_then = format!("{t}{}", synthetic("later", 85, ""));
    assert_eq!(names(&t_then), [("later".to_string(), 85, false)]);

    // Braces and `fn` in strings, comments and char literals count for
    // nothing; lifetimes are not char literals.
    let tricky = "    let s = \"}}} fn no() {\";\n    // }\n    /* } /* nested } */ } */\n    \
                  let r = r#\"}\" }\"#;\n    let b = b\"}\";\n    let c = '}';\n    let q = '\\'';\n    \
                  let l: &'static str = \"{\";";
    let src = synthetic("tricky", 90, tricky);
    assert_eq!(names(&src), [("tricky".to_string(), 90, false)]);
    let two = format!(
        "{}{}",
        synthetic("a", 50, tricky),
        synthetic("b", 50, tricky)
    );
    assert!(
        names(&two).is_empty(),
        "two short functions, not one long one: {:?}",
        names(&two)
    );

    // Declarations without a body, and `fn` types, are not functions.
    let decl =
        format!("trait T {{\n    fn f(&self);\n    fn g(&self) -> fn(u8) -> u8;\n}}\n{body}");
    assert_eq!(names(&decl), [("big".to_string(), 90, false)]);
}
