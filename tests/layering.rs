//! The layering rule of `specs/architecture.md`, checked on the source:
//! core (`framing`, `message`, `redact`, `policy`, `decision`, `audit`) →
//! `runtime` → `capture` → `tools`; no module uses one in a higher layer,
//! and no two modules use each other. Paths in code are counted
//! (`crate::…`, `super::…`); comments and test modules are not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`.
fn module(src: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Paths like `crate::a::b::C` or `super::x`, as module name candidates.
fn paths<'a>(code: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        out.push(rest[..end].split("::").filter(|s| !s.is_empty()).collect());
    }
    out
}

fn layer(m: &str) -> u8 {
    match m.split("::").next().unwrap_or("") {
        "framing" | "message" | "redact" | "policy" | "decision" | "audit" | "report" | "sign" => 0,
        "runtime" => 1,
        "capture" => 2,
        "tools" => 3,
        _ => 4,
    }
}

#[test]
fn layers_point_one_way_and_no_module_uses_another_that_uses_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let names: BTreeSet<String> = all.iter().map(|p| module(&src, p)).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &all {
        let m = module(&src, p);
        let text = std::fs::read_to_string(p).unwrap();
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let here: Vec<&str> = m.split("::").collect();
        let mut refs = BTreeSet::new();
        let mut add = |parts: Vec<&str>| {
            for i in (1..=parts.len()).rev() {
                let c = parts[..i].join("::");
                if names.contains(&c) {
                    refs.insert(c);
                    break;
                }
            }
        };
        for p in paths(&code, "crate::") {
            add(p);
        }
        for p in paths(&code, "super::") {
            let mut full: Vec<&str> = here[..here.len().saturating_sub(1)].to_vec();
            full.extend(p);
            add(full);
        }
        refs.remove(&m);
        deps.insert(m, refs);
    }
    assert!(deps.len() > 40, "read {} modules", deps.len());
    let mut problems = Vec::new();
    for (a, refs) in &deps {
        for b in refs {
            if deps.get(b).is_some_and(|r| r.contains(a)) && a < b {
                problems.push(format!("{a} and {b} use each other"));
            }
            if layer(b) > layer(a) && layer(a) < 4 {
                problems.push(format!(
                    "{a} (layer {}) uses {b} (layer {})",
                    layer(a),
                    layer(b)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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
        let name = f.file_name().unwrap().to_str().unwrap();
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let code = std::fs::read_to_string(&f).unwrap();
        // Unit tests at the end of a file are not the decision.
        let code = code.split("#[cfg(test)]").next().unwrap_or("");
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
