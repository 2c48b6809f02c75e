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

/// A change summary, as text; the number of changed entries.
pub fn diff(old: &Policy, new: &Policy) -> (usize, String) {
    let mut out = String::new();
    let _ = writeln!(out, "old {} (version {})", old.source, old.short_version());
    let _ = writeln!(out, "new {} (version {})", new.source, new.short_version());
    if old.default != new.default {
        let _ = writeln!(out, "default action: {} -> {}", old.default, new.default);
    }
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
                if old.lists[o].action != new.lists[n].action {
                    let _ = writeln!(
                        out,
                        "list {name:?}: action {} -> {}",
                        old.lists[o].action, new.lists[n].action
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
    let (oa, na) = (entry_actions(old), entry_actions(new));
    let keys: BTreeSet<&str> = oa.keys().chain(na.keys()).copied().collect();
    let mut changed = 0;
    let mut lines = String::new();
    for k in keys {
        let o = oa
            .get(k)
            .copied()
            .unwrap_or_else(|| old.lookup(k.as_bytes()).action);
        let n = na
            .get(k)
            .copied()
            .unwrap_or_else(|| new.lookup(k.as_bytes()).action);
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
    (changed, out)
}
