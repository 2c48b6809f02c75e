//! What a reader may see: the exact figures for an internal (CBI) report; for
//! a public one, small cells suppressed so no count from 1 to 9 can be read
//! or recovered, and nothing that names an agency.
//!
//! Suppression (specs/report.md): a count from 1 to 9 is written `<10`
//! (primary). Inside each group — period × direction × list × key, whose
//! total ("received") is published beside its four outcomes — a lone
//! suppressed outcome could be recovered by subtraction, so the smallest
//! other non-zero outcome is suppressed too, or, when there is none, the
//! total (secondary). Zeros are published: an outcome that did not occur is
//! not a small cell. Sums across groups (chart bars, period totals) are
//! taken over published cells only and say so.

use super::{key_name, LogCheck, Mode, Notice, Period, Report, Watch, OUTCOMES};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// A published count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The count.
    Exact(u64),
    /// A count from 1 to 9, or one that would reveal such a count.
    Suppressed,
}

impl Cell {
    /// The value, when published.
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::Exact(n) => Some(n),
            Cell::Suppressed => None,
        }
    }

    fn primary(n: u64, mode: Mode) -> Cell {
        if mode == Mode::Public && (1..10).contains(&n) {
            Cell::Suppressed
        } else {
            Cell::Exact(n)
        }
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Exact(n) => write!(f, "{n}"),
            Cell::Suppressed => f.write_str("<10"),
        }
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Exact(n) => s.serialize_u64(*n),
            Cell::Suppressed => s.serialize_str("<10"),
        }
    }
}

/// One published row (one combination that occurred).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PubRow {
    /// Period.
    pub period: String,
    /// inbound / outbound.
    pub direction: String,
    /// List name or `none`.
    pub list: String,
    /// Message key.
    pub key: String,
    /// Plain name of the key.
    pub key_name: String,
    /// passed, redacted, denied, dropped.
    pub outcome: String,
    /// Messages.
    pub messages: Cell,
    /// Photos withheld.
    pub photos_withheld: Cell,
    /// Places of birth withheld.
    pub pob_withheld: Cell,
    /// Recorded as written to the peer.
    pub delivered: Cell,
}

/// One group: every message of a period, direction, list and key, and the
/// conservation identity received = passed + redacted + denied + dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Period.
    pub period: String,
    /// inbound / outbound.
    pub direction: String,
    /// List name or `none`.
    pub list: String,
    /// Message key.
    pub key: String,
    /// Plain name.
    pub key_name: String,
    /// Every decision record of the group.
    pub received: Cell,
    /// The outcomes, in [`OUTCOMES`] order.
    pub outcomes: [Cell; 4],
    /// The identity holds on the exact counts.
    pub identity_holds: bool,
}

/// Per period and outcome, summed over published cells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodTotal {
    /// Period.
    pub period: String,
    /// Messages per outcome, in [`OUTCOMES`] order (at least these).
    pub outcomes: [u64; 4],
    /// Per list, per outcome.
    pub by_list: BTreeMap<String, [u64; 4]>,
    /// Photos withheld (at least).
    pub photos_withheld: u64,
    /// Places of birth withheld (at least).
    pub pob_withheld: u64,
    /// Inbound driver-licence queries from each list (at least), for the
    /// headline question.
    pub driver_queries_by_list: BTreeMap<String, [u64; 4]>,
    /// Lists whose driver-query sums miss a suppressed cell (lower bounds).
    pub driver_partial: std::collections::BTreeSet<String>,
    /// Some cell of this period was suppressed: the sums are lower bounds.
    pub partial: bool,
}

/// The report as a reader of `mode` may see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Published {
    /// public / internal.
    pub mode: Mode,
    /// origuard version.
    pub software: String,
    /// When the report was made (UTC).
    pub generated: String,
    /// Grouping.
    pub period: Period,
    /// Range asked for.
    pub from: Option<String>,
    /// Range asked for.
    pub to: Option<String>,
    /// Every log is intact.
    pub intact: bool,
    /// The logs and their files.
    pub logs: Vec<LogCheck>,
    /// Decision records counted.
    pub decisions: u64,
    /// First decision counted.
    pub first_ts: Option<String>,
    /// Last decision counted.
    pub last_ts: Option<String>,
    /// Policy changes, outages, gaps, file events.
    pub notices: Vec<Notice>,
    /// One row per combination.
    pub rows: Vec<PubRow>,
    /// One group per period × direction × list × key.
    pub groups: Vec<Group>,
    /// Per period, over published cells.
    pub periods: Vec<PeriodTotal>,
    /// Every group's identity holds.
    pub identity_holds: bool,
    /// Unlisted agencies that stand out (internal: who; public: how many).
    pub watch: Vec<Watch>,
    /// Per period, how many unlisted agencies stand out.
    pub watch_count: BTreeMap<String, usize>,
    /// Per agency (internal only).
    pub agencies: Vec<super::AgencyRow>,
    /// Court orders used: internal, one row per exception and period;
    /// public, one row per period (`exception` = the number of orders used),
    /// every count under the small-cell rule.
    pub court_orders: Vec<PubOrders>,
}

/// Court-order uses in a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PubOrders {
    /// Period.
    pub period: String,
    /// The exception's id (internal), or `null` (public).
    pub exception: Option<String>,
    /// Orders used (1 internal; the number of distinct orders public).
    pub orders: Cell,
    /// Queries let through.
    pub queries: Cell,
    /// Responses released.
    pub responses: Cell,
}

type GKey = (String, String, String, String);

/// Publishes the report for `mode`; `generated` is the time to print.
pub fn publish(r: &Report, mode: Mode, generated: &str) -> Published {
    // Exact counts per group.
    let mut groups: BTreeMap<GKey, ([u64; 4], u64)> = BTreeMap::new();
    for row in &r.rows {
        let g = groups
            .entry((
                row.period.clone(),
                row.direction.clone(),
                row.list.clone(),
                row.key.clone(),
            ))
            .or_default();
        g.1 += row.messages;
        if let Some(i) = OUTCOMES.iter().position(|o| *o == row.outcome) {
            g.0[i] += row.messages;
        }
    }
    let mut cells: BTreeMap<GKey, (Cell, [Cell; 4], bool)> = BTreeMap::new();
    for (k, (out, received)) in &groups {
        let mut oc = out.map(|n| Cell::primary(n, mode));
        let mut rc = Cell::primary(*received, mode);
        let suppressed = oc.iter().filter(|c| **c == Cell::Suppressed).count();
        if mode == Mode::Public && suppressed == 1 && rc != Cell::Suppressed {
            // The smallest other non-zero published outcome, else the total.
            let other = (0..4)
                .filter(|&i| oc[i] != Cell::Suppressed && out[i] > 0)
                .min_by_key(|&i| out[i]);
            match other {
                Some(i) => oc[i] = Cell::Suppressed,
                None => rc = Cell::Suppressed,
            }
        }
        let holds = out.iter().sum::<u64>() == *received;
        cells.insert(k.clone(), (rc, oc, holds));
    }
    let rows: Vec<PubRow> = r
        .rows
        .iter()
        .map(|row| {
            let k = (
                row.period.clone(),
                row.direction.clone(),
                row.list.clone(),
                row.key.clone(),
            );
            let messages = match (
                OUTCOMES.iter().position(|o| *o == row.outcome),
                cells.get(&k),
            ) {
                (Some(i), Some((_, oc, _))) => oc[i],
                _ => Cell::primary(row.messages, mode),
            };
            PubRow {
                period: row.period.clone(),
                direction: row.direction.clone(),
                list: row.list.clone(),
                key: row.key.clone(),
                key_name: key_name(&row.key),
                outcome: row.outcome.clone(),
                messages,
                photos_withheld: Cell::primary(row.photos_withheld, mode),
                pob_withheld: Cell::primary(row.pob_withheld, mode),
                delivered: Cell::primary(row.delivered, mode),
            }
        })
        .collect();
    let mut periods: BTreeMap<String, PeriodTotal> = BTreeMap::new();
    for row in &rows {
        let p = periods
            .entry(row.period.clone())
            .or_insert_with(|| PeriodTotal {
                period: row.period.clone(),
                outcomes: [0; 4],
                by_list: BTreeMap::new(),
                photos_withheld: 0,
                pob_withheld: 0,
                driver_queries_by_list: BTreeMap::new(),
                driver_partial: Default::default(),
                partial: false,
            });
        let cells = [row.messages, row.photos_withheld, row.pob_withheld];
        p.partial |= cells.contains(&Cell::Suppressed);
        let driver = row.direction == "inbound" && matches!(row.key.as_str(), "DQ" | "DQG" | "DNQ");
        if driver && row.messages == Cell::Suppressed {
            p.driver_partial.insert(row.list.clone());
        }
        if let (Some(i), Some(n)) = (
            OUTCOMES.iter().position(|o| *o == row.outcome),
            row.messages.value(),
        ) {
            p.outcomes[i] += n;
            p.by_list.entry(row.list.clone()).or_default()[i] += n;
            if driver {
                p.driver_queries_by_list
                    .entry(row.list.clone())
                    .or_default()[i] += n;
            }
        }
        p.photos_withheld += row.photos_withheld.value().unwrap_or(0);
        p.pob_withheld += row.pob_withheld.value().unwrap_or(0);
    }
    let mut watch_count = BTreeMap::new();
    for w in &r.watch {
        *watch_count.entry(w.period.clone()).or_insert(0) += 1;
    }
    let internal = mode == Mode::Internal;
    let court_orders = if internal {
        r.court_orders
            .iter()
            .map(|c| PubOrders {
                period: c.period.clone(),
                exception: Some(c.exception.clone()),
                orders: Cell::Exact(1),
                queries: Cell::Exact(c.queries),
                responses: Cell::Exact(c.responses),
            })
            .collect()
    } else {
        let mut per: BTreeMap<String, [u64; 3]> = BTreeMap::new();
        for c in &r.court_orders {
            let e = per.entry(c.period.clone()).or_default();
            e[0] += 1;
            e[1] += c.queries;
            e[2] += c.responses;
        }
        per.into_iter()
            .map(|(period, [o, q, x])| PubOrders {
                period,
                exception: None,
                orders: Cell::primary(o, mode),
                queries: Cell::primary(q, mode),
                responses: Cell::primary(x, mode),
            })
            .collect()
    };
    Published {
        mode,
        software: format!("origuard {}", crate::VERSION),
        generated: generated.to_string(),
        period: r.period,
        from: r.from.clone(),
        to: r.to.clone(),
        intact: r.intact,
        logs: r.logs.clone(),
        decisions: r.decisions,
        first_ts: r.first_ts.clone(),
        last_ts: r.last_ts.clone(),
        notices: public_notices(mode, &r.notices),
        identity_holds: cells.values().all(|c| c.2),
        groups: cells
            .into_iter()
            .map(
                |((period, direction, list, key), (received, outcomes, identity_holds))| Group {
                    key_name: key_name(&key),
                    period,
                    direction,
                    list,
                    key,
                    received,
                    outcomes,
                    identity_holds,
                },
            )
            .collect(),
        rows,
        periods: periods.into_values().collect(),
        watch: if internal {
            r.watch.clone()
        } else {
            Vec::new()
        },
        watch_count,
        agencies: if internal {
            r.agencies.clone()
        } else {
            Vec::new()
        },
        court_orders,
    }
}

/// The CSV: `period,direction,list,key,outcome,messages,photos_withheld,pob_withheld`.
pub fn csv(p: &Published) -> String {
    let mut out =
        String::from("period,direction,list,key,outcome,messages,photos_withheld,pob_withheld\n");
    for r in &p.rows {
        let f = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            f(&r.period),
            f(&r.direction),
            f(&r.list),
            f(&r.key),
            f(&r.outcome),
            r.messages,
            r.photos_withheld,
            r.pob_withheld
        ));
    }
    out
}

/// Kinds of notice that name people (signers, authors): listed in the
/// internal report, only counted in the public one.
const NAMED_CHANGES: [(&str, &str); 6] = [
    (
        "signers_in_force",
        "change(s) of who may sign orders and policy (allowed_signers)",
    ),
    (
        "admin_call",
        "state-changing admin request(s) by named administrators",
    ),
    ("order_entered", "signed court order(s) came into force"),
    (
        "order_refused",
        "court order(s) refused at a load (not signed by two people, or not valid)",
    ),
    ("policy_signed", "signed policy bundle(s) applied"),
    (
        "bundle_refused",
        "policy bundle(s) refused at a load (unsigned, altered or rolled back)",
    ),
];

/// The notices as published: in the public report the accountable
/// changes are counted, not listed (they name officials and orders).
fn public_notices(mode: Mode, notices: &[Notice]) -> Vec<Notice> {
    if mode != Mode::Public {
        return notices.to_vec();
    }
    let mut out: Vec<Notice> = notices
        .iter()
        .filter(|n| !NAMED_CHANGES.iter().any(|(k, _)| n.kind == *k))
        .cloned()
        .collect();
    for (kind, what) in NAMED_CHANGES {
        let n = notices.iter().filter(|n| n.kind == kind).count();
        if n > 0 {
            out.push(Notice {
                ts: None,
                kind: kind.to_string(),
                text: format!("{n} {what}"),
            });
        }
    }
    out
}
