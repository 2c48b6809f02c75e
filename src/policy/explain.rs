//! `policy explain`: why an ORI gets the action it gets.

use super::{Action, DenyMode, Policy};
use crate::message::keys;
use crate::message::Direction;
use std::fmt::Write;

/// Renders the explanation for `ori`, optionally for a message key and direction.
// Long: one explanation written in the order it is read (entry, losers, message key), each part short.
pub fn explain(
    p: &Policy,
    ori: &str,
    mke: Option<&str>,
    dir: Option<Direction>,
) -> (Action, String) {
    let mke_up = mke.map(|m| m.trim().to_ascii_uppercase());
    let mke = mke_up.as_deref();
    let mut out = String::new();
    let v = p.lookup(ori.as_bytes());
    let mut action = v.action;
    let _ = writeln!(out, "policy {} (version {})", p.source, p.short_version());
    if v.action == Action::Redact && mke.is_none() {
        let prof = p.profile_for(v);
        let _ = writeln!(
            out,
            "release profile: {} — every message to this agency is projected onto it ({})",
            prof.name, prof.description
        );
    }
    match v.entry {
        Some(e) => {
            let info = &p.entries[e as usize];
            let list = &p.lists[info.list as usize];
            let _ = writeln!(
                out,
                "{ori}: {} — {} entry {} in list {:?} ({}:{})",
                v.action,
                info.entry.kind.name(),
                info.entry.text,
                list.name,
                info.file,
                info.line
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{ori}: {} — in no list; the default action applies",
                v.action
            );
        }
    }
    let matches = p.matches(ori.as_bytes());
    let losers: Vec<_> = matches.iter().filter(|&&m| Some(m) != v.entry).collect();
    if !losers.is_empty() {
        let _ = writeln!(out, "also matched, and lost:");
        for &&m in &losers {
            let info = &p.entries[m as usize];
            let list = &p.lists[info.list as usize];
            let why = match v.entry.map(|w| &p.entries[w as usize]) {
                Some(w) if w.entry.kind > info.entry.kind => {
                    format!("{} beats {}", w.entry.kind.name(), info.entry.kind.name())
                }
                Some(w)
                    if w.entry.kind == info.entry.kind
                        && w.entry.literal_prefix() > info.entry.literal_prefix() =>
                {
                    "longer literal prefix wins".to_string()
                }
                Some(w)
                    if p.lists[w.list as usize].action.strictness() > list.action.strictness() =>
                {
                    "stricter action wins".to_string()
                }
                _ => "earlier entry wins".to_string(),
            };
            let _ = writeln!(
                out,
                "  {} entry {} in list {:?} ({}) at {}:{} — {why}",
                info.entry.kind.name(),
                info.entry.text,
                list.name,
                list.action,
                info.file,
                info.line
            );
        }
    }
    if let Some(mke) = mke {
        let scoped = p.scoped(v, mke);
        let class = keys::class_of(mke);
        if scoped != v.action {
            let _ = writeln!(
                out,
                "for {mke}: {scoped} — message key {mke} is explicitly exempt from {}",
                v.action
            );
        } else {
            let _ = writeln!(out, "for {mke} ({}): {scoped}", class.name());
        }
        action = scoped;
        if scoped == Action::Deny {
            let what = match (dir, class) {
                (Some(Direction::Inbound), keys::Class::Query) => {
                    Some(match p.deny_inbound_query {
                        DenyMode::Reply => {
                            "the query is not forwarded; a decline reply goes back to the requester"
                        }
                        DenyMode::Drop => "the query is dropped silently",
                    })
                }
                (Some(Direction::Outbound), keys::Class::Response) => {
                    Some(match p.deny_outbound_response {
                        DenyMode::Reply => "the response is replaced by a decline reply",
                        DenyMode::Drop => "the response is dropped",
                    })
                }
                (Some(_), _) => Some("the message is dropped"),
                (None, _) => None,
            };
            if let Some(w) = what {
                let _ = writeln!(out, "{}: {w}", dir.map_or("", |d| d.name()));
            }
        } else if scoped == Action::Redact {
            let prof = p.profile_for(v);
            let fields: Vec<&str> = p
                .fields_for(v)
                .iter()
                .map(|f| p.catalogue.name(f))
                .collect();
            match dir {
                Some(Direction::Inbound) => {
                    let _ = writeln!(
                        out,
                        "inbound: forwarded to the state unchanged{}",
                        if class == keys::Class::Other {
                            " — no: the key is unknown, so it is dropped"
                        } else {
                            ""
                        }
                    );
                }
                _ if !prof.keys.contains(mke) => {
                    let _ = writeln!(
                        out,
                        "outbound: refused — release profile {:?} does not release {mke}",
                        prof.name
                    );
                }
                _ => {}
            }
            let _ = writeln!(
                out,
                "release profile: {} (releases {}): only what it names is forwarded",
                prof.name,
                prof.keys.keys().collect::<Vec<_>>().join(" "),
            );
            let _ = writeln!(
                out,
                "removed fields: {} (the catalogue check after the profile)",
                fields.join(", ")
            );
        }
    }
    out.push_str(&super::legal::explain(p, ori, std::time::SystemTime::now()));
    (action, out)
}
