//! `policy diff`: what changes between two policies, entry by entry.

use super::{Action, Policy};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The action each entry text resolves to in a policy when it is listed
/// (strictest among the lists naming it).
fn entry_actions(p: &Policy) -> BTreeMap<&str, Action> {
    let mut m: BTreeMap<&str, Action> = BTreeMap::new();
    for e in &p.entries {
        let a = p.lists[e.list as usize].action;
        let slot = m.entry(e.entry.text.as_str()).or_insert(a);
        if a.strictness() > slot.strictness() {
            *slot = a;
        }
    }
    m
}

/// Lines of a diff that report a list added, removed or changed.
fn list_changes(out: &str) -> usize {
    out.lines().filter(|l| l.starts_with("list ")).count()
}

/// A change summary, as text; the number of changes (entries whose action
/// changes, settings, and list additions, removals and edits): 0 when the
/// two policies behave the same.
pub fn diff(old: &Policy, new: &Policy) -> (usize, String) {
    let mut out = String::new();
    let _ = writeln!(out, "old {} (version {})", old.source, old.short_version());
    let _ = writeln!(out, "new {} (version {})", new.source, new.short_version());
    let mut settings_changed = setting_changes(old, new, &mut out);
    // Court-order exceptions and certifications, by id / holder (never the subject).
    settings_changed += legal_changes(old, new, &mut out);
    list_diffs(old, new, &mut out);
    let changed = action_changes(old, new, &mut out);
    (changed + settings_changed + list_changes(&out), out)
}

/// A key set as its key names, space-separated.
fn keys(k: super::KeySet) -> String {
    k.keys().collect::<Vec<_>>().join(" ")
}

/// The settings that differ, one line each. Returns how many.
fn setting_changes(old: &Policy, new: &Policy, out: &mut String) -> usize {
    let fields = |p: &Policy| {
        p.redact_fields
            .iter()
            .map(|f| p.catalogue.name(f).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let profiles = |p: &Policy| {
        p.profiles
            .iter()
            .map(|x| {
                format!(
                    "{}[{}]",
                    x.name,
                    x.keys.keys().collect::<Vec<_>>().join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let settings: [(&str, String, String); 11] = [
        (
            "default action",
            old.default.to_string(),
            new.default.to_string(),
        ),
        (
            "on_parse_error",
            old.on_parse_error.name().into(),
            new.on_parse_error.name().into(),
        ),
        (
            "on_unknown_ori",
            old.on_unknown_ori.name().into(),
            new.on_unknown_ori.name().into(),
        ),
        ("deny.exempt", keys(old.deny_exempt), keys(new.deny_exempt)),
        (
            "redact.exempt",
            keys(old.redact_exempt),
            keys(new.redact_exempt),
        ),
        ("profiles", profiles(old), profiles(new)),
        ("redact.fields", fields(old), fields(new)),
        (
            "deny.inbound_query",
            old.deny_inbound_query.name().into(),
            new.deny_inbound_query.name().into(),
        ),
        (
            "deny.outbound_response",
            old.deny_outbound_response.name().into(),
            new.deny_outbound_response.name().into(),
        ),
        (
            "deny.reply_ori",
            old.reply_ori.map(|o| o.to_string()).unwrap_or_default(),
            new.reply_ori.map(|o| o.to_string()).unwrap_or_default(),
        ),
        (
            "deny.reply_text",
            old.decline_text.clone(),
            new.decline_text.clone(),
        ),
    ];
    let mut settings_changed = 0;
    for (name, o, n) in settings {
        if o != n {
            let _ = writeln!(out, "{name}: {o:?} -> {n:?}");
            settings_changed += 1;
        }
    }
    settings_changed
}

/// Each list added or removed, its action, profile or exemptions changed,
/// and the entries added to or removed from it.
// Long: one loop over the lists by name: the list's own changes, then its entries added and removed.
fn list_diffs(old: &Policy, new: &Policy, out: &mut String) {
    let names: BTreeSet<&str> = old
        .lists
        .iter()
        .chain(&new.lists)
        .map(|l| l.name.as_str())
        .collect();
    for name in names {
        let ol = old.lists.iter().position(|l| l.name == name);
        let nl = new.lists.iter().position(|l| l.name == name);
        let set = |p: &Policy, li: Option<usize>| -> BTreeSet<String> {
            li.map(|li| {
                p.entries
                    .iter()
                    .filter(|e| e.list as usize == li)
                    .map(|e| e.entry.text.clone())
                    .collect()
            })
            .unwrap_or_default()
        };
        let (os, ns) = (set(old, ol), set(new, nl));
        match (ol, nl) {
            (None, Some(n)) => {
                let _ = writeln!(
                    out,
                    "list {name:?}: added ({}, {} entries)",
                    new.lists[n].action,
                    ns.len()
                );
            }
            (Some(o), None) => {
                let _ = writeln!(
                    out,
                    "list {name:?}: removed (was {}, {} entries)",
                    old.lists[o].action,
                    os.len()
                );
            }
            (Some(o), Some(n)) => {
                let (ol, nl) = (&old.lists[o], &new.lists[n]);
                if ol.action != nl.action {
                    let _ = writeln!(out, "list {name:?}: action {} -> {}", ol.action, nl.action);
                }
                let (op, np) = (
                    &old.profiles[ol.profile].name,
                    &new.profiles[nl.profile].name,
                );
                if op != np && nl.action == Action::Redact {
                    let _ = writeln!(out, "list {name:?}: profile {op} -> {np}");
                }
                if keys(ol.exempt) != keys(nl.exempt) {
                    let _ = writeln!(
                        out,
                        "list {name:?}: exempt {:?} -> {:?}",
                        keys(ol.exempt),
                        keys(nl.exempt)
                    );
                }
            }
            (None, None) => {}
        }
        let added: Vec<&String> = ns.difference(&os).collect();
        let removed: Vec<&String> = os.difference(&ns).collect();
        if !added.is_empty() && ol.is_some() {
            let _ = writeln!(
                out,
                "list {name:?}: + {}",
                added
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        if !removed.is_empty() && nl.is_some() {
            let _ = writeln!(
                out,
                "list {name:?}: - {}",
                removed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
}

/// The entries whose action changes, under an `action changes` heading (or
/// a line saying none does). Returns how many.
fn action_changes(old: &Policy, new: &Policy, out: &mut String) -> usize {
    let (oa, na) = (entry_actions(old), entry_actions(new));
    let all_keys: BTreeSet<&str> = oa.keys().chain(na.keys()).copied().collect();
    let mut changed = 0;
    let mut lines = String::new();
    // An entry listed on one side only: an exact ORI can be looked up on the
    // other side; a pattern or member code cannot (it is not one agency).
    let other = |p: &Policy, k: &str| -> String {
        if k.len() == 9 && !k.contains(['?', '*']) {
            p.lookup(k.as_bytes()).action.to_string()
        } else {
            "(not listed)".to_string()
        }
    };
    for k in all_keys {
        let o = oa
            .get(k)
            .map(|a| a.to_string())
            .unwrap_or_else(|| other(old, k));
        let n = na
            .get(k)
            .map(|a| a.to_string())
            .unwrap_or_else(|| other(new, k));
        if o != n {
            changed += 1;
            let _ = writeln!(lines, "  {k}: {o} -> {n}");
        }
    }
    if changed > 0 {
        let _ = writeln!(out, "action changes ({changed}):");
        out.push_str(&lines);
    } else {
        let _ = writeln!(out, "no entry changes action");
    }
    changed
}

/// Court-order exceptions added, removed or changed (by id), and
/// certifications whose expiry or lapse action changed. Returns how many.
fn legal_changes(old: &Policy, new: &Policy, out: &mut String) -> usize {
    let mut n = 0;
    let ids: BTreeSet<&str> = old
        .exceptions
        .iter()
        .chain(&new.exceptions)
        .map(|e| &*e.id)
        .collect();
    for id in ids {
        match (old.exception(id), new.exception(id)) {
            (None, Some(e)) => {
                let _ = writeln!(
                    out,
                    "exception {id}: added ({})",
                    super::legal::describe(new, e)
                );
                n += 1;
            }
            (Some(_), None) => {
                let _ = writeln!(out, "exception {id}: removed");
                n += 1;
            }
            (Some(a), Some(b)) => {
                let (da, db) = (
                    super::legal::describe(old, a),
                    super::legal::describe(new, b),
                );
                if da != db || a.subject != b.subject {
                    let _ = writeln!(out, "exception {id}: changed ({db})");
                    if a.subject != b.subject {
                        let _ = writeln!(out, "exception {id}: its subject changed");
                    }
                    n += 1;
                }
            }
            (None, None) => {}
        }
    }
    let holder = |p: &Policy, c: &super::legal::Certification| match (c.ori, c.list) {
        (Some(o), _) => o.as_str().to_string(),
        (_, Some(l)) => format!("list {}", p.lists[l].name),
        _ => String::new(),
    };
    let certs = |p: &Policy| -> std::collections::BTreeMap<String, String> {
        p.certifications
            .iter()
            .map(|c| {
                (
                    holder(p, c),
                    format!(
                        "until {}, then {}",
                        super::legal::show_time(c.expires),
                        c.lapse
                    ),
                )
            })
            .collect()
    };
    let (co, cn) = (certs(old), certs(new));
    for k in co.keys().chain(cn.keys()).collect::<BTreeSet<_>>() {
        match (co.get(k), cn.get(k)) {
            (a, b) if a == b => {}
            (a, b) => {
                let _ = writeln!(
                    out,
                    "certification {k}: {} -> {}",
                    a.map_or("(none)", |s| s.as_str()),
                    b.map_or("(none)", |s| s.as_str())
                );
                n += 1;
            }
        }
    }
    n
}
