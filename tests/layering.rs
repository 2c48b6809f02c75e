//! The dependency rule of `specs/architecture.md`, checked on the source.
//!
//! The imports of every file are read (`use crate::…` trees with their
//! braces, `crate::x::…`, `super::…` and `self::…` paths, and paths through a
//! module's own children) into a graph of modules, and searched:
//!
//! * **rooms** (the top-level folders and leaf files of `src/`): each room
//!   uses only the rooms its layer allows (`ALLOWED`; capture and runtime
//!   stand side by side, neither uses the other), and the rooms form no
//!   circle of any length, test code included (`#[cfg(test)]` modules and
//!   `*tests.rs` files; the one room test code may use beyond its layer is
//!   `capture::gen`, the synthetic traffic, listed in `TEST_ALSO`);
//! * **files**: the circles among the files of `src/` (strongly connected
//!   sets of modules) are exactly the known ones `specs/architecture.md`
//!   lists (a folder's `mod.rs` and its own files); a new one fails, and
//!   one that is gone must leave the list;
//! * **test helpers**: the files of `tests/common/` form no circle.
//!
//! A circle is found by Tarjan's strongly connected components, so a loop
//! through any number of modules is caught, and reported with one path
//! round it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`; `src/lib.rs` → `` (the crate).
fn module(root: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// Code without comments, string and char literals (each replaced by a
/// space), so a path named in a doc comment or a message is not an import.
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.push(' ');
            i += end;
        } else if let Some(n) = raw_string_len(rest) {
            out.push(' ');
            i += n;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push(' ');
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = rest[1..].find('\'').map(|e| e + 1);
            match close {
                Some(c)
                    if c <= 10
                        && (rest.as_bytes()[1] == b'\\' || c == 2 || !rest[1..c].is_ascii()) =>
                {
                    out.push(' ');
                    i += c + 1;
                }
                _ => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = rest.chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br"…"`) at the start of `s`.
fn raw_string_len(s: &str) -> Option<usize> {
    let t = s.strip_prefix('b').unwrap_or(s);
    let t = t.strip_prefix('r')?;
    let hashes = t.len() - t.trim_start_matches('#').len();
    let body = t[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close)?;
    Some(s.len() - body.len() + end + close.len())
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Reads a path or a use tree at the start of `s` (after its first `::`):
/// `a::b::C`, `a::{b, c::{d, e}}`, `a::*`; every leaf path, as segments.
fn use_tree(s: &[u8], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            loop {
                use_tree(s, i, &path, out);
                while *i < s.len() && s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                match s.get(*i) {
                    Some(b',') => {
                        *i += 1;
                        while *i < s.len() && s[*i].is_ascii_whitespace() {
                            *i += 1;
                        }
                        if s.get(*i) == Some(&b'}') {
                            *i += 1;
                            return;
                        }
                    }
                    Some(b'}') => {
                        *i += 1;
                        return;
                    }
                    _ => return,
                }
            }
        }
        let start = *i;
        while *i < s.len() && ident_char(s[*i]) {
            *i += 1;
        }
        if *i > start {
            path.push(String::from_utf8_lossy(&s[start..*i]).into_owned());
        }
        if s[*i..].starts_with(b"::") {
            *i += 2;
            continue;
        }
        out.push(path);
        return;
    }
}

/// Every path in `code` that starts at a word boundary with `head::` (a
/// `::` before it means it is the tail of another path).
fn paths_from(code: &str, head: &str) -> Vec<Vec<String>> {
    let s = code.as_bytes();
    let pat = format!("{head}::");
    let mut out = Vec::new();
    for (at, _) in code.match_indices(&pat) {
        if at > 0 && (ident_char(s[at - 1]) || s[at - 1] == b':') {
            continue;
        }
        let mut i = at + pat.len();
        use_tree(s, &mut i, &[head.to_string()], &mut out);
    }
    out
}

/// The modules `code` (of module `here`) refers to, each the longest known
/// module its path names. `children` are `here`'s own child modules, which
/// it may name without a prefix.
fn refs(code: &str, here: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let here: Vec<String> = if here.is_empty() {
        vec![]
    } else {
        here.split("::").map(String::from).collect()
    };
    let mut absolute: Vec<Vec<String>> = Vec::new();
    for p in paths_from(code, "crate") {
        absolute.push(p[1..].to_vec());
    }
    for p in paths_from(code, "super") {
        let mut base = here.clone();
        let mut rest = &p[..];
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        absolute.push(base);
    }
    for p in paths_from(code, "self") {
        let mut base = here.clone();
        base.extend(p[1..].iter().cloned());
        absolute.push(base);
    }
    let prefix = if here.is_empty() {
        String::new()
    } else {
        format!("{}::", here.join("::"))
    };
    for child in names.iter().filter_map(|n| {
        let c = n.strip_prefix(&prefix)?;
        (!c.contains("::") && !c.is_empty()).then_some(c)
    }) {
        for p in paths_from(code, child) {
            let mut base = here.clone();
            base.extend(p);
            absolute.push(base);
        }
    }
    for parts in absolute {
        for i in (1..=parts.len()).rev() {
            let c = parts[..i].join("::");
            if names.contains(&c) {
                out.insert(c);
                break;
            }
        }
    }
    out
}

/// A file's code in two parts: what the library is built from, and its
/// tests (each item marked `#[cfg(test)]`, to its closing brace or
/// semicolon, or the whole of a `*tests.rs` file).
fn split_tests(p: &Path, text: &str) -> (String, String) {
    let code = strip(text);
    let stem = p.file_stem().unwrap().to_string_lossy();
    if stem == "tests" || stem.ends_with("_tests") {
        return (String::new(), code);
    }
    let (mut prod, mut test) = (String::new(), String::new());
    let mut rest = code.as_str();
    while let Some(i) = rest.find("#[cfg(test)]") {
        prod.push_str(&rest[..i]);
        let end = i + item_len(&rest[i..]);
        test.push_str(&rest[i..end]);
        rest = &rest[end..];
    }
    prod.push_str(rest);
    (prod, test)
}

/// The length of the item at the start of `s`: to its `;` or to the brace
/// closing its first `{`, whichever comes first (literals are stripped).
fn item_len(s: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            ';' if depth == 0 => return i + 1,
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// The module graph of the files under `root`: library code and test code.
struct Read {
    prod: Graph,
    test: Graph,
}

fn read(root: &Path, prefix: &str) -> Read {
    let mut all = Vec::new();
    files(root, &mut all);
    let module = |p: &Path| {
        let m = module(root, p);
        match (prefix.is_empty(), m.is_empty()) {
            (true, _) => m,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}::{m}"),
        }
    };
    let names: BTreeSet<String> = all.iter().map(|p| module(p)).collect();
    let mut r = Read {
        prod: Graph::new(),
        test: Graph::new(),
    };
    for p in &all {
        let m = module(p);
        let (prod, test) = split_tests(p, &std::fs::read_to_string(p).unwrap());
        let mut a = refs(&prod, &m, &names);
        a.remove(&m);
        // In an inline `mod tests`, `super` is the file's own module.
        let inline = !test.is_empty() && !prod.is_empty();
        let test_here = if inline {
            format!("{m}::tests")
        } else {
            m.clone()
        };
        let mut t = refs(&test, &test_here, &names);
        t.remove(&m);
        r.prod.insert(m.clone(), a);
        r.test.insert(m, t);
    }
    r
}

/// Tarjan's strongly connected components with more than one module.
fn circles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.g.contains_key(w) {
                continue;
            }
            if !t.index.contains_key(w) {
                visit(t, w);
                let l = t.low[v].min(t.low[w]);
                t.low.insert(v, l);
            } else if t.on.contains(w) {
                let l = t.low[v].min(t.index[w]);
                t.low.insert(v, l);
            }
        }
        if t.low[v] == t.index[v] {
            let mut c = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                c.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                t.out.push(c);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// One way round a circle: from its first module back to it (breadth first,
/// inside the circle), as `a → b → … → a`.
fn round(g: &Graph, c: &BTreeSet<String>) -> String {
    let start = c.iter().next().unwrap().as_str();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen = BTreeSet::from([start]);
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in g.get(v).into_iter().flatten().filter(|w| c.contains(*w)) {
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = prev[at];
                    path.push(at);
                }
                path.reverse();
                path.push(start);
                return path.join(" → ");
            }
            if seen.insert(w.as_str()) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    c.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The room of a module: its first segment (`` is the crate root).
fn room(m: &str) -> &str {
    m.split("::").next().unwrap_or("")
}

/// Which rooms each room may use (besides itself).
const CORE: &[&str] = &[
    "names", "limits", "framing", "message", "redact", "policy", "decision", "audit", "report",
    "sign",
];
fn allowed(from: &str, to: &str) -> bool {
    match from {
        "names" | "limits" => false,
        "runtime" | "capture" => CORE.contains(&to),
        "tools" => !to.is_empty() && to != "main",
        "main" | "" => true,
        core if CORE.contains(&core) => CORE.contains(&to),
        _ => false,
    }
}

/// Modules test code may use beyond its room's layer: synthetic traffic,
/// which tests of `message` and `runtime` draw their inputs from. Such an
/// edge is test data, not a way down, so it is left out of the room circle
/// search too (or `message`'s tests would close a loop through `capture`).
const TEST_ALSO: &[&str] = &["capture::gen"];

/// Collapses a module graph into rooms.
fn rooms(g: &Graph) -> Graph {
    let mut r = Graph::new();
    for (a, bs) in g {
        let e = r.entry(room(a).to_string()).or_default();
        for b in bs {
            if room(b) != room(a) {
                e.insert(room(b).to_string());
            }
        }
    }
    r
}

fn union(a: &Graph, b: &Graph) -> Graph {
    let mut u = a.clone();
    for (k, v) in b {
        u.entry(k.clone()).or_default().extend(v.iter().cloned());
    }
    u
}

fn src() -> Read {
    read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), "")
}

fn report(g: &Graph, cs: &[BTreeSet<String>]) -> Vec<String> {
    cs.iter()
        .map(|c| format!("circle: {}", round(g, c)))
        .collect()
}

#[test]
fn rooms_use_only_the_rooms_below_them() {
    let r = src();
    assert!(r.prod.len() > 40, "read {} modules", r.prod.len());
    let mut problems = Vec::new();
    for (g, what) in [(&r.prod, "library"), (&r.test, "test")] {
        for (a, bs) in g {
            for b in bs {
                let also = what == "test" && TEST_ALSO.contains(&b.as_str());
                if room(a) != room(b) && !allowed(room(a), room(b)) && !also {
                    problems.push(format!("{what} code of {a} uses {b}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn capture_and_runtime_stand_side_by_side() {
    assert!(!allowed("capture", "runtime") && !allowed("runtime", "capture"));
    let r = src();
    for (a, bs) in union(&r.prod, &r.test).iter() {
        for b in bs {
            let pair = (room(a), room(b));
            assert!(
                pair != ("capture", "runtime"),
                "{a} uses {b}: capture must not import the runtime"
            );
        }
    }
}

#[test]
fn the_rooms_form_no_circle_tests_included() {
    let r = src();
    let mut test = r.test.clone();
    for bs in test.values_mut() {
        bs.retain(|b| !TEST_ALSO.contains(&b.as_str()));
    }
    let all = rooms(&union(&r.prod, &test));
    let cs = circles(&all);
    assert!(cs.is_empty(), "{}", report(&all, &cs).join("\n"));
}

/// The circles between a folder's `mod.rs` and its own files that
/// `specs/architecture.md` lists under "Known deviations". Only these.
const KNOWN: &[&[&str]] = &[
    &["decision", "decision::court_order", "decision::restricted"],
    &["policy", "policy::legal", "policy::orders"],
    &[
        "report",
        "report::consistency",
        "report::finish",
        "report::model",
        "report::notices",
        "report::publish",
        "report::read",
        "report::small_cells",
        "report::tally",
    ],
    &[
        "runtime::audit_log",
        "runtime::audit_log::checkpoint",
        "runtime::audit_log::open",
        "runtime::audit_log::outage",
        "runtime::audit_log::segments",
        "runtime::audit_log::syncer",
        "runtime::audit_log::writer",
    ],
    &[
        "runtime::proxy",
        "runtime::proxy::session",
        "runtime::proxy::session::admission",
        "runtime::proxy::session::cut_off",
        "runtime::proxy::session::deliver",
        "runtime::proxy::session::nlets",
        "runtime::proxy::session::reader",
        "runtime::proxy::session::writer",
    ],
];

#[test]
fn the_files_form_no_circle_but_the_known_ones() {
    let r = src();
    let cs = circles(&r.prod);
    let found: BTreeSet<Vec<String>> = cs.iter().map(|c| c.iter().cloned().collect()).collect();
    let known: BTreeSet<Vec<String>> = KNOWN
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    let new: Vec<String> = cs
        .iter()
        .filter(|c| !known.contains(&c.iter().cloned().collect::<Vec<_>>()))
        .map(|c| format!("circle: {} (of {:?})", round(&r.prod, c), c))
        .collect();
    let gone: Vec<String> = known
        .difference(&found)
        .map(|c| format!("gone (take it off KNOWN and the spec): {}", c.join(", ")))
        .collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "{}",
        [new, gone].concat().join("\n")
    );
}

#[test]
fn the_test_helpers_form_no_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common");
    let r = read(&root, "common");
    assert!(r.prod.len() >= 2, "read {:?}", r.prod.keys());
    let g = union(&r.prod, &r.test);
    let cs = circles(&g);
    assert!(cs.is_empty(), "{}", report(&g, &cs).join("\n"));
}

#[test]
fn the_search_finds_a_long_circle_and_names_its_way_round() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("d", "e")] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    let cs = circles(&g);
    assert_eq!(cs.len(), 1);
    assert_eq!(round(&g, &cs[0]), "a → b → c → d → a");
    g.get_mut("d").unwrap().remove("a");
    assert!(circles(&g).is_empty());
}

#[test]
fn use_trees_and_relative_paths_are_read() {
    let names: BTreeSet<String> = ["a", "a::x", "a::y", "b", "b::c", "d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = strip(
        "use crate::{b::{c::Thing, other}, d as e};\n\
         // crate::nothing\n let s = \"crate::nothing\";\n\
         use super::y::Z;",
    );
    let got = refs(&code, "a::x", &names);
    let want: BTreeSet<String> = ["b", "b::c", "d", "a::y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
    // A module names its own children without a prefix, or through `self`.
    let got = refs(&strip("fn f() { x::go(); self::y::go() }"), "a", &names);
    let want: BTreeSet<String> = ["a::x", "a::y"].iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
    // Only the items marked `#[cfg(test)]` are test code; what follows is not.
    let (prod, test) = split_tests(
        Path::new("a.rs"),
        "use crate::b;\n#[cfg(test)]\nmod tests { use crate::d; fn f() {} }\nfn g() { crate::c::go() }",
    );
    assert!(prod.contains("crate::b") && prod.contains("crate::c") && !prod.contains("crate::d"));
    assert!(test.contains("crate::d") && !test.contains("crate::c"));
}

/// The decision is pure: the clock and the disk are its inputs. No file in
/// `src/decision/` (tests beside it aside) reads the clock or touches files;
/// court-order counts live behind `ledger::UseStore`, whose file and
/// PostgreSQL stores are in `src/runtime/`.
#[test]
fn the_decision_reads_no_clock_and_writes_no_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/decision");
    let mut all = Vec::new();
    files(&src, &mut all);
    let forbidden = [
        "SystemTime::now",
        "Instant::now",
        "std::fs",
        "File::",
        "tokio::",
        "OpenOptions",
    ];
    let mut found = Vec::new();
    for f in all {
        let (code, _) = split_tests(&f, &std::fs::read_to_string(&f).unwrap());
        for w in forbidden {
            if code.contains(w) {
                found.push(format!("{}: {w}", f.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the decision must not read the clock or use files: {found:?}"
    );
}
