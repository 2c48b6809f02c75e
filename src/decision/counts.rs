//! Outcome counts: how decisions are tallied, written once.

use super::{Category, Decision, Outcome};
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Counts of decisions: the one tally the offline filter, the demo and the
/// report use (the proxy counts the same categories in metrics).
/// `received == passed + redacted + denied + dropped`, always.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Messages read.
    pub received: u64,
    /// Forwarded unchanged.
    pub passed: u64,
    /// Forwarded after redaction.
    pub redacted: u64,
    /// Fields removed, by field name.
    pub fields: BTreeMap<String, u64>,
    /// Denied.
    pub denied: u64,
    /// Decline replies written.
    pub replies: u64,
    /// Dropped.
    pub dropped: u64,
    /// Dropped, by reason (and detail).
    pub drop_reasons: BTreeMap<String, u64>,
    /// Passed although unparseable or of unknown counterparty (fail-open), by reason.
    pub fail_open: BTreeMap<String, u64>,
}

impl Counts {
    /// Adds one decision.
    pub fn add(&mut self, d: &Decision, p: &Policy) {
        self.received += 1;
        match d.category {
            Category::Passed => {
                self.passed += 1;
                if d.reason.is_fail_open() {
                    *self.fail_open.entry(d.reason.to_string()).or_default() += 1;
                }
            }
            Category::Redacted => {
                self.redacted += 1;
                for f in d.removed.iter() {
                    *self
                        .fields
                        .entry(p.catalogue.name(f).to_string())
                        .or_default() += 1;
                }
            }
            Category::Denied => self.denied += 1,
            Category::Dropped => {
                self.dropped += 1;
                let key = match d.detail {
                    Some(detail) => format!("{}:{detail}", d.reason),
                    None => d.reason.to_string(),
                };
                *self.drop_reasons.entry(key).or_default() += 1;
            }
        }
        if matches!(d.outcome, Outcome::Deny { reply: Some(_) }) {
            self.replies += 1;
        }
    }

    /// True when the counts add up.
    pub fn conserved(&self) -> bool {
        self.received == self.passed + self.redacted + self.denied + self.dropped
    }

    /// Human-readable table.
    pub fn render(&self) -> String {
        let map = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = String::new();
        let _ = writeln!(s, "received  {:>8}", self.received);
        let _ = writeln!(
            s,
            "passed    {:>8}{}",
            self.passed,
            if self.fail_open.is_empty() {
                String::new()
            } else {
                format!("  (fail-open: {})", map(&self.fail_open))
            }
        );
        let _ = writeln!(
            s,
            "redacted  {:>8}  (fields removed: {})",
            self.redacted,
            if self.fields.is_empty() {
                "none".into()
            } else {
                map(&self.fields)
            }
        );
        let _ = writeln!(
            s,
            "denied    {:>8}  ({} decline replies)",
            self.denied, self.replies
        );
        let _ = writeln!(
            s,
            "dropped   {:>8}{}",
            self.dropped,
            if self.drop_reasons.is_empty() {
                String::new()
            } else {
                format!("  ({})", map(&self.drop_reasons))
            }
        );
        let _ = writeln!(
            s,
            "check     received = passed + redacted + denied + dropped: {} = {} + {} + {} + {} ({})",
            self.received,
            self.passed,
            self.redacted,
            self.denied,
            self.dropped,
            if self.conserved() { "ok" } else { "MISMATCH" }
        );
        s
    }
}

impl Counts {
    /// Adds one audited decision by its category and removed fields (for
    /// tallies rebuilt from the audit log).
    pub fn add_record<'a>(&mut self, category: Category, removed: impl Iterator<Item = &'a str>) {
        self.received += 1;
        match category {
            Category::Passed => self.passed += 1,
            Category::Redacted => {
                self.redacted += 1;
                for f in removed {
                    *self.fields.entry(f.to_string()).or_default() += 1;
                }
            }
            Category::Denied => self.denied += 1,
            Category::Dropped => self.dropped += 1,
        }
    }
}
