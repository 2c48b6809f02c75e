//! `origuard report`: oversight figures from audit logs (specs/report.md).
//!
//! Pure over the logs' bytes: each log is verified on its own (every file of
//! it, in order, the chain checked from one file into the next), then its
//! decision records are counted by period × direction × list × message key
//! × outcome, with photos and places of birth withheld, and what the log
//! says about delivery (`written` records). Policy changes, audit outages,
//! file events and gaps are listed before any figure. [`publish`] turns the
//! exact figures into what a public or internal reader may see: in public
//! mode counts from 1 to 9 are suppressed (with secondary suppression inside
//! each group) and nothing names an agency.

pub mod consistency;
mod finish;
pub mod html;
mod model;
mod notices;
pub mod publish;
mod read;
pub mod small_cells;
mod tally;

use crate::audit::checkpoint::Checkpoint;
use crate::message::keys;
use finish::*;
pub use model::*;
use notices::*;
use read::*;
pub use read::{Input, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tally::*;

pub use publish::{publish, Cell, Published};

/// Who the report is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Anyone: small cells suppressed, no agency identifiers.
    Public,
    /// CBI: exact counts and per-agency detail.
    Internal,
}

/// The period figures are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumIter)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Period {
    /// Calendar day (UTC).
    Day,
    /// Calendar month (UTC).
    Month,
    /// Calendar quarter (UTC), `2026-Q4`.
    Quarter,
    /// Calendar year (UTC), `2026`: the annual report.
    Year,
}

impl std::str::FromStr for Period {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "period")
    }
}

impl Period {
    /// The period a record's timestamp (RFC 3339, UTC) falls in.
    pub fn of(self, ts: &str) -> String {
        match self {
            Period::Day => ts.get(..10).unwrap_or(ts).to_string(),
            Period::Month => ts.get(..7).unwrap_or(ts).to_string(),
            Period::Year => ts.get(..4).unwrap_or(ts).to_string(),
            Period::Quarter => {
                let y = ts.get(..4).unwrap_or("????");
                let m: u32 = ts.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
                format!("{y}-Q{}", (m.clamp(1, 12) - 1) / 3 + 1)
            }
        }
    }
}

/// What the report covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Public or internal.
    pub mode: Mode,
    /// Grouping.
    pub period: Period,
    /// First day included (`YYYY-MM-DD`, UTC), if any.
    pub from: Option<String>,
    /// Last day included (`YYYY-MM-DD`, UTC), if any.
    pub to: Option<String>,
    /// The agency families (policy lists) to answer for, each shown even
    /// with no traffic; empty: the lists the log names.
    pub families: Vec<Family>,
    /// The small-cell threshold of each public table (`--small-cell`,
    /// `--exact court_orders`).
    pub small_cells: small_cells::SmallCells,
    /// The checkpoints the previous report published (`report --previous`):
    /// this report proves its logs only grew since.
    pub previous: Vec<Checkpoint>,
}

pub use small_cells::EXACT_TABLES;

/// An agency family: a policy list, with the words a reader needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Family {
    /// The list's name (`immigration_enforcement`).
    pub name: String,
    /// Its description from the policy ("Civil immigration enforcement").
    pub description: String,
    /// `deny`, `redact` or `allow` (empty when not known).
    pub action: String,
}

impl Family {
    /// Every list of a policy, in file order.
    pub fn of_policy(p: &crate::policy::Policy) -> Vec<Family> {
        p.lists
            .iter()
            .map(|l| Family {
                name: l.name.clone(),
                description: l.description.clone(),
                action: l.action.name().to_string(),
            })
            .collect()
    }
}

/// Builds the report from audit files (any order, any number of logs),
/// reading each once, as a stream.
pub fn build<S: Source>(inputs: &[S], opts: &Options) -> Report {
    build_with(inputs, opts, &mut |_| {})
}

/// [`build`], calling `progress(bytes)` as input is read.
pub fn build_with<S: Source>(
    inputs: &[S],
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Report {
    // Group files by the log their first line names; order each log's
    // files by their first sequence number.
    let mut by_log: BTreeMap<String, Vec<(u64, &S)>> = BTreeMap::new();
    for inp in inputs {
        let (id, first) =
            first_line(inp).unwrap_or_else(|| (format!("unknown ({})", inp.name()), 0));
        by_log.entry(id).or_default().push((first, inp));
    }
    let mut t = Tally::default();
    let mut logs = Vec::new();
    for (log_id, mut files) in by_log {
        files.sort_by_key(|(first, _)| *first);
        logs.push(count_log(log_id, &files, opts, &mut t, progress));
    }
    t.notices.sort_by(|a, b| a.ts.cmp(&b.ts));
    let mut r = finish(t, logs, opts);
    if !opts.previous.is_empty() {
        r.consistency = consistency::prove(inputs, &r.logs, &opts.previous);
        for c in &r.consistency {
            let Some(p) = &c.problem else { continue };
            // A log cut or rewritten below what was published: not intact.
            let tampered = c.tampered;
            r.intact &= !tampered;
            r.notices.push(Notice {
                ts: None,
                kind: if tampered { "broken" } else { "gap" }.into(),
                text: format!(
                    "log {}: no consistency proof from the previous report's checkpoint (size {}): {p}",
                    short(&c.log_id),
                    c.previous.tree_size
                ),
            });
        }
    }
    r
}

#[cfg(test)]
mod tests;
