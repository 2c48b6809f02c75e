//! Time to block, for the metric `origuard_time_to_block_seconds{list}`:
//! from a policy change taking effect to the first message it refused from
//! an agency the policy before it did not refuse, per change and list.
//!
//! On an applied reload [`policy_changed`] keeps the policy it replaced
//! (the last [`MAX_CHANGES`] changes); each inbound refusal then asks
//! [`on_decision`] whether, under the replaced policy, that agency's
//! message would have been refused too (`lookup` and key scope, the same
//! rule the decision applies). The first that would not, per change and
//! list, is observed once. Only refusals reach the lock, and only while a
//! change still waits; passed traffic costs one relaxed atomic load.
//!
//! The report's *time to block* reads the same from the audit log, by
//! behaviour (the log holds no policy content), `specs/report.md`.

use crate::decision::{Category, Decision};
use crate::message::Direction;
use crate::policy::{Action, Policy};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Changes remembered at most (older ones are forgotten, unobserved).
pub const MAX_CHANGES: usize = 8;

/// One applied change still waiting for first refusals.
struct Change {
    /// When it took effect.
    at: Instant,
    /// The policy it replaced.
    old: Arc<Policy>,
    /// The version it put in force.
    version: String,
    /// Lists already observed for it.
    done: Vec<String>,
}

static CHANGES: Mutex<Vec<Change>> = Mutex::new(Vec::new());
static WAITING: AtomicBool = AtomicBool::new(false);

/// An applied reload replaced `old` by `new` now.
pub fn policy_changed(old: &Arc<Policy>, new: &Policy) {
    changed_at(old, new, Instant::now());
}

fn changed_at(old: &Arc<Policy>, new: &Policy, at: Instant) {
    if old.version == new.version {
        return;
    }
    let mut c = CHANGES.lock().unwrap_or_else(|e| e.into_inner());
    c.push(Change {
        at,
        old: old.clone(),
        version: new.version.clone(),
        done: Vec::new(),
    });
    if c.len() > MAX_CHANGES {
        c.remove(0);
    }
    WAITING.store(true, Ordering::Release);
}

/// Looks at one decision taken under `p`: when it is the first refusal,
/// for its change and list, of an agency the replaced policy did not
/// refuse, the list and the seconds since the change (the metrics record
/// them).
pub fn on_decision(d: &Decision, dir: Direction, p: &Policy) -> Option<(String, f64)> {
    if dir != Direction::Inbound
        || d.category != Category::Denied
        || !WAITING.load(Ordering::Acquire)
    {
        return None;
    }
    let (ori, v) = (d.counterparty?, d.verdict?);
    let mut c = CHANGES.lock().unwrap_or_else(|e| e.into_inner());
    // The change that put `p` in force (the decision's verdict is `p`'s).
    let ch = c.iter_mut().rev().find(|c| c.version == p.version)?;
    let list = p.list_name(v);
    if list.is_empty() {
        return None;
    }
    let mke = d.header.as_ref().map_or("", |h| h.mke.as_str());
    if ch.done.iter().any(|l| l == list) {
        return None;
    }
    if ch.old.scoped(ch.old.lookup(ori.as_bytes()), mke) == Action::Deny {
        return None; // refused before the change as well
    }
    let secs = ch.at.elapsed().as_secs_f64();
    ch.done.push(list.to_string());
    Some((list.to_string(), secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::decide;
    use crate::message::Limits;

    fn policy(extra: &str) -> Arc<Policy> {
        let text = format!(
            "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"ice\"\naction = \"deny\"\nentries = [\"VTICE0900\"{extra}]\n"
        );
        let p = crate::policy::file::load("t.toml", &mut |_: &str| Ok(text.clone().into_bytes()));
        Arc::new(p.unwrap_or_else(|e| panic!("{e}")))
    }

    fn dq(ori: &str) -> bytes::Bytes {
        bytes::Bytes::from(format!("DQ.{ori}.AX.TXT\r\nNAM/DOE"))
    }

    #[test]
    fn the_first_refusal_of_a_newly_listed_agency_is_observed_once() {
        let (old, new) = (policy(""), policy(", \"VTHSI0100\""));
        let limits = Limits::default();
        let now = std::time::SystemTime::now();
        changed_at(
            &old,
            &new,
            Instant::now() - std::time::Duration::from_secs(30),
        );
        // Refused before the change as well: not a new block.
        let d = decide(Direction::Inbound, dq("VTICE0900"), &new, &limits, now);
        assert_eq!(d.category, Category::Denied);
        assert_eq!(on_decision(&d, Direction::Inbound, &new), None);
        // Newly listed: observed once, about 30 s after the change.
        let d = decide(Direction::Inbound, dq("VTHSI0100"), &new, &limits, now);
        let (list, s) = on_decision(&d, Direction::Inbound, &new).unwrap();
        assert_eq!(list, "ice");
        assert!((30.0..60.0).contains(&s), "{s}");
        assert_eq!(on_decision(&d, Direction::Inbound, &new), None);
        // Decisions under a policy no change put in force, or passed, are
        // not looked at.
        let d0 = decide(Direction::Inbound, dq("VTHSI0100"), &old, &limits, now);
        assert_eq!(on_decision(&d0, Direction::Inbound, &old), None);
        let d = decide(Direction::Inbound, dq("CO0010000"), &new, &limits, now);
        assert_eq!(on_decision(&d, Direction::Inbound, &new), None);
    }
}
