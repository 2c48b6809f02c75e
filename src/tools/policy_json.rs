//! `--json` output of `policy check`, `policy explain` and `policy diff`:
//! one JSON object on standard output, for scripts and CI gates. The exit
//! codes are those of the text output. The facts come from the same calls
//! the text uses ([`crate::policy::Policy`], `explain`, `diff`); where the
//! core renders only text (an explanation's reasoning, a diff's lines), the
//! lines are included as they are.

use crate::policy::entry::Kind;
use crate::policy::file::Refused;
use crate::policy::{Action, Policy};
use serde_json::{json, Value};

/// A policy that was refused: its diagnostics.
pub fn refused(path: &str, r: &Refused) -> Value {
    json!({ "file": path, "valid": false, "errors": r.errors, "warnings": r.warnings })
}

/// `policy check --json` of a valid policy.
pub fn check(p: &Policy) -> Value {
    let lists: Vec<Value> = p
        .lists
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let count = |k: Kind| {
                p.entries
                    .iter()
                    .filter(|e| e.list as usize == i && e.entry.kind == k)
                    .count()
            };
            json!({
                "name": l.name,
                "action": l.action.name(),
                "exact": count(Kind::Exact),
                "member": count(Kind::Member),
                "pattern": count(Kind::Pattern),
                "profile": (l.action == Action::Redact).then(|| p.profiles[l.profile].name.clone()),
                "file": &*l.file,
                "line": l.line,
            })
        })
        .collect();
    json!({
        "file": p.source,
        "valid": true,
        "version": p.version,
        "short_version": p.short_version(),
        "default": p.default.name(),
        "on_parse_error": p.on_parse_error.name(),
        "on_unknown_ori": p.on_unknown_ori.name(),
        "deny_exempt": p.deny_exempt.keys().collect::<Vec<_>>(),
        "redact_exempt": p.redact_exempt.keys().collect::<Vec<_>>(),
        "redact_fields": p.redact_fields.iter().map(|f| p.catalogue.name(f)).collect::<Vec<_>>(),
        "profiles": p.profiles.iter().map(|x| json!({
            "name": x.name,
            "keys": x.keys.keys().collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "lists": lists,
        "entries": p.entries.len(),
        "exceptions": p.exceptions.iter().map(|e| json!({
            "id": &*e.id,
            "ori": e.ori.as_str(),
            "document": <&str>::from(e.document),
            "court": e.court,
            "case": e.case,
            "judge": e.judge,
            "not_before": crate::policy::legal::show_time(e.not_before),
            "expires": crate::policy::legal::show_time(e.expires),
            "max_uses": e.max_uses,
            "release": e.release.iter().map(|f| p.catalogue.name(f)).collect::<Vec<_>>(),
            "approved_by": e.approved_by,
            "file": &*e.file,
            "line": e.line,
        })).collect::<Vec<_>>(),
        "certifications": p.certifications.iter().map(|c| json!({
            "ori": c.ori.map(|o| o.as_str().to_string()),
            "list": c.list.map(|l| p.lists[l].name.clone()),
            "expires": crate::policy::legal::show_time(c.expires),
            "lapse": c.lapse.name(),
            "document": c.document,
        })).collect::<Vec<_>>(),
        "warnings": p.warnings,
    })
}

/// One entry of the policy, with where it is written.
fn entry(p: &Policy, i: u32) -> Value {
    let e = &p.entries[i as usize];
    json!({
        "kind": e.entry.kind.name(),
        "text": e.entry.text,
        "list": p.lists[e.list as usize].name,
        "file": &*e.file,
        "line": e.line,
    })
}

/// `policy explain --json`: `action` is the one the explanation arrives at
/// (after the key scope when `--mke` is given); `lines` is its text.
pub fn explain(p: &Policy, ori: &str, action: Action, text: &str) -> Value {
    let v = p.lookup(ori.as_bytes());
    let lost: Vec<Value> = p
        .matches(ori.as_bytes())
        .into_iter()
        .filter(|&m| Some(m) != v.entry)
        .map(|m| entry(p, m))
        .collect();
    json!({
        "policy": p.source,
        "version": p.version,
        "ori": ori,
        "action": action.name(),
        "list_action": v.action.name(),
        "entry": v.entry.map(|e| entry(p, e)),
        "also_matched": lost,
        "profile": (v.action == Action::Redact).then(|| p.profile_for(v).name.clone()),
        "lines": text.lines().collect::<Vec<_>>(),
    })
}

/// `policy diff --json`: both versions, the number of changes and the
/// diff's lines; with `--capture`, the messages whose outcome changes.
pub fn diff(
    old: &Policy,
    new: &Policy,
    changes: usize,
    text: &str,
    what_if: Option<(u64, &str)>,
) -> Value {
    json!({
        "old": { "file": old.source, "version": old.version },
        "new": { "file": new.source, "version": new.version },
        "changes": changes,
        "lines": text.lines().collect::<Vec<_>>(),
        "what_if": what_if.map(|(changed, t)| json!({
            "changed": changed,
            "lines": t.lines().collect::<Vec<_>>(),
        })),
    })
}

/// The object as one line of text for standard output.
pub fn line(v: &Value) -> String {
    format!("{v}\n")
}
