//! The court-order ledger: how many times each exception has been used, and
//! which responses are awaited for the queries it let through.
//!
//! The decision consults it for exactly two things: reserving a use when a
//! query matches an exception ([`Ledger::reserve`]), and taking the awaited
//! entry when the response to that query comes back ([`Ledger::take`]).
//! Use counts survive restarts when the ledger has a file: a reservation is
//! written (temporary file, fsync, rename, fsync of the directory) before it
//! is granted, so a crash can lose a use but never grant one twice. Entries
//! awaiting a response live in memory only (bounded, oldest dropped first):
//! after a restart a response to an earlier query gets the list's action.
//!
//! Nothing here holds a subject identifier: only exception ids, ORIs and
//! control fields.

use crate::message::{Control, Mke, Ori};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Most responses awaited at once; beyond, the oldest is forgotten (its
/// response then gets the list's action: fail closed).
pub const MAX_AWAITED: usize = 4096;

/// Most recent queries remembered per process (ORI and control field of
/// every query from an ORI with an exception); beyond, court-order queries
/// are refused until the forgotten ones' windows have passed (fail closed).
pub const MAX_SEEN: usize = 4 * MAX_AWAITED;

/// A use of an exception, as the decision records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Use {
    /// Exception id.
    pub id: Arc<str>,
    /// Which use this is (1-based).
    pub number: u32,
    /// Of how many allowed.
    pub of: u32,
}

#[derive(Debug)]
struct Awaited {
    ori: Ori,
    control: Control,
    key: Mke,
    id: Arc<str>,
    number: u32,
    of: u32,
    until: SystemTime,
}

/// A query seen from an ORI with an exception: while its response may
/// still come, another query on the same ORI and control field cannot be
/// told apart from it by the response.
#[derive(Debug)]
struct Seen {
    ori: Ori,
    control: Control,
    until: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    uses: BTreeMap<String, u32>,
    awaited: VecDeque<Awaited>,
    dropped: u64,
    seen: VecDeque<Seen>,
    /// Until when a forgotten query's response may still come.
    seen_forgotten_until: Option<SystemTime>,
}

impl State {
    /// Records a query on `ori` and `control` whose response may come until
    /// `until`; forgets expired ones first.
    fn see(&mut self, ori: Ori, control: Control, now: SystemTime, until: SystemTime) {
        self.seen.retain(|q| q.until >= now);
        if self.seen.len() >= MAX_SEEN {
            if let Some(old) = self.seen.pop_front() {
                let t = self
                    .seen_forgotten_until
                    .map_or(old.until, |t| t.max(old.until));
                self.seen_forgotten_until = Some(t);
            }
        }
        self.seen.push_back(Seen {
            ori,
            control,
            until,
        });
    }

    /// True when a response on `ori` and `control` could answer a query
    /// seen before (or one forgotten for lack of room).
    fn ambiguous(&self, ori: Ori, control: Control, now: SystemTime) -> bool {
        self.seen_forgotten_until.is_some_and(|t| t >= now)
            || self
                .seen
                .iter()
                .any(|q| q.ori == ori && q.control == control && q.until >= now)
    }
}

/// Use counts and awaited responses; shared by every session of a process.
#[derive(Debug)]
pub struct Ledger {
    state: Mutex<State>,
    path: Option<PathBuf>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OnDisk {
    version: u32,
    uses: BTreeMap<String, u32>,
}

impl Ledger {
    /// A ledger kept in memory only (offline tools, tests).
    pub fn memory() -> Ledger {
        Ledger {
            state: Mutex::new(State::default()),
            path: None,
        }
    }

    /// Opens the ledger file at `path` (created on the first use).
    pub fn open(path: &Path) -> Result<Ledger, String> {
        let uses = match std::fs::read(path) {
            Ok(b) => {
                let d: OnDisk = serde_json::from_slice(&b).map_err(|e| {
                    format!("court-order ledger {}: not a ledger: {e}", path.display())
                })?;
                if d.version != 1 {
                    return Err(format!(
                        "court-order ledger {}: unknown version {}",
                        path.display(),
                        d.version
                    ));
                }
                d.uses
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("court-order ledger {}: {e}", path.display())),
        };
        Ok(Ledger {
            state: Mutex::new(State {
                uses,
                ..State::default()
            }),
            path: Some(path.to_path_buf()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Uses of exception `id` so far.
    pub fn uses(&self, id: &str) -> u32 {
        self.lock().uses.get(id).copied().unwrap_or(0)
    }

    /// Every exception's use count.
    pub fn all_uses(&self) -> BTreeMap<String, u32> {
        self.lock().uses.clone()
    }

    /// Responses awaited now, and how many were forgotten for lack of room.
    pub fn awaited(&self) -> (usize, u64) {
        let s = self.lock();
        (s.awaited.len(), s.dropped)
    }

    /// Reserves the next use of exception `id` (at most `max` in all) for a
    /// query from `ori` with `control` at `now`, whose response (key `key`)
    /// is awaited until `until`. None when used up, when another query on
    /// the same ORI and control field may still be answered (the response
    /// could not be told apart), or when the use could not be made durable
    /// (then nothing is granted).
    #[allow(clippy::too_many_arguments)]
    pub fn reserve(
        &self,
        id: &Arc<str>,
        max: u32,
        ori: Ori,
        control: Control,
        key: Mke,
        now: SystemTime,
        until: SystemTime,
    ) -> Option<Use> {
        let mut s = self.lock();
        if s.ambiguous(ori, control, now) {
            s.see(ori, control, now, until);
            return None;
        }
        let used = s.uses.get(&**id).copied().unwrap_or(0);
        if used >= max {
            return None;
        }
        s.uses.insert(id.to_string(), used + 1);
        if let Some(p) = &self.path {
            if let Err(e) = persist(p, &s.uses) {
                tracing::error!(error = %e, path = %p.display(), "court-order ledger: cannot record a use; the exception is not applied");
                s.uses.insert(id.to_string(), used);
                return None;
            }
        }
        s.see(ori, control, now, until);
        if s.awaited.len() >= MAX_AWAITED {
            s.awaited.pop_front();
            s.dropped += 1;
        }
        s.awaited.push_back(Awaited {
            ori,
            control,
            key,
            id: id.clone(),
            number: used + 1,
            of: max,
            until,
        });
        Some(Use {
            id: id.clone(),
            number: used + 1,
            of: max,
        })
    }

    /// Records a query from `ori` (an ORI with an exception) with `control`
    /// that no exception let through: a response awaited on the same ORI
    /// and control field can no longer be told apart from its answer, so
    /// it is forgotten (the list's action applies to both), and no order
    /// query on them is granted until `until`.
    pub fn other_query(&self, ori: Ori, control: Control, now: SystemTime, until: SystemTime) {
        let mut s = self.lock();
        s.awaited
            .retain(|a| !(a.ori == ori && a.control == control));
        s.see(ori, control, now, until);
    }

    /// Takes the awaited entry for a response with key `key` to `ori` with
    /// `control`, if one is still within its window. Expired entries are
    /// discarded on the way.
    pub fn take(&self, ori: Ori, control: Control, key: Mke, now: SystemTime) -> Option<Use> {
        let mut s = self.lock();
        s.awaited.retain(|a| a.until >= now);
        let i = s
            .awaited
            .iter()
            .position(|a| a.ori == ori && a.control == control && a.key == key)?;
        let a = s.awaited.remove(i)?;
        Some(Use {
            id: a.id,
            number: a.number,
            of: a.of,
        })
    }
}

fn persist(path: &Path, uses: &BTreeMap<String, u32>) -> std::io::Result<()> {
    let body = serde_json::to_vec(&OnDisk {
        version: 1,
        uses: uses.clone(),
    })?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ori(s: &str) -> Ori {
        Ori::new(s.as_bytes()).unwrap()
    }

    #[test]
    fn uses_are_bounded_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.json");
        let id: Arc<str> = Arc::from("2026-CR-0042");
        let now = SystemTime::now();
        let later = now + Duration::from_secs(60);
        let c = Control::new(b"A1").unwrap();
        let k = Mke::new(b"DR").unwrap();
        {
            let l = Ledger::open(&p).unwrap();
            assert_eq!(
                l.reserve(&id, 2, ori("VTICE0900"), c, k, now, later)
                    .unwrap()
                    .number,
                1
            );
        }
        let l = Ledger::open(&p).unwrap();
        assert_eq!(l.uses(&id), 1);
        assert_eq!(
            l.reserve(&id, 2, ori("VTICE0900"), c, k, now, later)
                .unwrap()
                .number,
            2
        );
        assert!(l
            .reserve(&id, 2, ori("VTICE0900"), c, k, now, later)
            .is_none());
        assert_eq!(Ledger::open(&p).unwrap().uses(&id), 2);
        // Awaited responses: taken once, by ORI, control and key, in window.
        let other = Mke::new(b"KR").unwrap();
        assert!(l.take(ori("VTICE0900"), c, other, now).is_none());
        assert!(l.take(ori("VTICE0901"), c, k, now).is_none());
        // The first use's awaited response died with the first process.
        assert_eq!(l.take(ori("VTICE0900"), c, k, now).unwrap().number, 2);
        assert!(l.take(ori("VTICE0900"), c, k, now).is_none());
    }

    #[test]
    fn window_and_room_are_bounded() {
        let l = Ledger::memory();
        let id: Arc<str> = Arc::from("x");
        let now = SystemTime::now();
        let c = Control::new(b"A1").unwrap();
        let k = Mke::new(b"DR").unwrap();
        l.reserve(&id, 10_000, ori("VTICE0900"), c, k, now, now)
            .unwrap();
        assert!(l
            .take(ori("VTICE0900"), c, k, now + Duration::from_secs(1))
            .is_none());
        for i in 0..MAX_AWAITED + 5 {
            let c = Control::new(format!("B{i}").as_bytes()).unwrap();
            l.reserve(&id, u32::MAX, ori("VTICE0900"), c, k, now, now)
                .unwrap();
        }
        assert_eq!(l.awaited(), (MAX_AWAITED, 5));
    }

    #[test]
    fn one_control_field_answers_one_query() {
        let l = Ledger::memory();
        let id: Arc<str> = Arc::from("x");
        let now = SystemTime::now();
        let later = now + Duration::from_secs(60);
        let (c, c2) = (Control::new(b"A1").unwrap(), Control::new(b"A2").unwrap());
        let k = Mke::new(b"DR").unwrap();
        let o = ori("VTICE0900");
        // Another query on the same control field forgets the awaited
        // response and blocks a new order query on it for the window.
        l.reserve(&id, 10, o, c, k, now, later).unwrap();
        l.other_query(o, c, now, later);
        assert!(l.take(o, c, k, now).is_none());
        assert!(l.reserve(&id, 10, o, c, k, now, later).is_none());
        // Twice the order's own query on one control field: the second is
        // refused, the first still awaited.
        l.reserve(&id, 10, o, c2, k, now, later).unwrap();
        assert!(l.reserve(&id, 10, o, c2, k, now, later).is_none());
        assert!(l.take(o, c2, k, now).is_some());
        // After the window the control field is free again.
        let after = later + Duration::from_secs(1);
        assert!(l
            .reserve(&id, 10, o, c, k, after, after + Duration::from_secs(60))
            .is_some());
    }

    #[test]
    fn forgotten_queries_block_order_queries_for_their_window() {
        let l = Ledger::memory();
        let id: Arc<str> = Arc::from("x");
        let now = SystemTime::now();
        let later = now + Duration::from_secs(60);
        let k = Mke::new(b"DR").unwrap();
        let o = ori("VTICE0900");
        for i in 0..MAX_SEEN + 1 {
            let c = Control::new(format!("Q{i}").as_bytes()).unwrap();
            l.other_query(o, c, now, later);
        }
        let fresh = Control::new(b"NEW1").unwrap();
        assert!(l.reserve(&id, 10, o, fresh, k, now, later).is_none());
        let after = later + Duration::from_secs(1);
        assert!(l
            .reserve(&id, 10, o, fresh, k, after, after + Duration::from_secs(60))
            .is_some());
    }

    #[test]
    fn an_unwritable_ledger_grants_nothing() {
        let l = Ledger {
            state: Mutex::new(State::default()),
            path: Some(PathBuf::from("/nonexistent-dir/ledger.json")),
        };
        let id: Arc<str> = Arc::from("x");
        let c = Control::new(b"A1").unwrap();
        let k = Mke::new(b"DR").unwrap();
        assert!(l
            .reserve(
                &id,
                3,
                ori("VTICE0900"),
                c,
                k,
                SystemTime::now(),
                SystemTime::now()
            )
            .is_none());
        assert_eq!(l.uses("x"), 0);
    }
}
