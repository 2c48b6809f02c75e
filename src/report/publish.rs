//! What a reader may see: the exact figures for an internal (CBI) report; for
//! a public one, small cells suppressed so no count from 1 to 9 can be read
//! or recovered, and nothing that names an agency.
//!
//! Suppression (specs/report.md): a count from 1 to 9 is written `<10`
//! (primary; the threshold is set per table, [`SmallCells`]). Inside each group — period × direction × list × key, whose
//! total ("received") is published beside its four outcomes — a lone
//! suppressed outcome could be recovered by subtraction, so the smallest
//! other non-zero outcome is suppressed too, or, when there is none, the
//! total (secondary). Zeros are published: an outcome that did not occur is
//! not a small cell. Sums across groups (chart bars, period totals) are
//! taken over published cells only and say so.

pub use super::small_cells::{Cell, Rule, SmallCells, TABLES};
use super::{key_name, Family, LogCheck, Mode, Notice, Period, Report, Watch, OUTCOMES};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Passed under a court order (a query let through, a response
    /// released with the fields the order covers).
    pub court_order: bool,
}

/// The questions people ask, per agency family and period. Every message
/// kind counts (driver licence, plate and owner, photo, criminal history
/// ...). In a public report each figure is the sum of the published cells
/// behind it: a lower bound when one of them was withheld (`partial`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FamilyRow {
    /// Period.
    pub period: String,
    /// The list's name (`none`: agencies on no list).
    pub family: String,
    /// Its description from the policy.
    pub description: String,
    /// deny, redact, allow (empty when not known).
    pub action: String,
    /// Requests received: messages from the family to the state (inbound),
    /// of every key.
    pub received: Fig,
    /// Of those, declined (denied).
    pub declined: Fig,
    /// Responses and other messages to the family released with fields
    /// withheld (outbound, redacted).
    pub released_redacted: Fig,
    /// Queries from the family let through under a court order.
    pub court_order_queries: Fig,
    /// Responses released to the family under a court order.
    pub court_order_releases: Fig,
    /// Days of the period with at least one declined request.
    pub days_with_declines: u64,
}

/// A sum of published cells: exact, or a lower bound when a withheld cell
/// lies behind it (JSON: `{"value": n, "at_least": bool}`). A withheld cell
/// is never zero (zeros are published), so each adds 1 to the bound: a
/// figure made of withheld cells only reads "at least 1", never "at least 0".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fig {
    /// The sum of the published cells, plus 1 per withheld cell.
    pub value: u64,
    /// A withheld cell is not in it: the true figure is at least `value`.
    pub at_least: bool,
}

impl Fig {
    /// Adds one published cell.
    fn add(&mut self, c: Cell) {
        self.value += c.value().unwrap_or(1);
        self.at_least |= c.hidden();
    }
}

impl std::fmt::Display for Fig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at_least {
            write!(f, "at least {}", self.value)
        } else {
            write!(f, "{}", self.value)
        }
    }
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
    /// The agency families answered for, with their descriptions.
    pub families: Vec<Family>,
    /// Per period and family (every family, zeros included).
    pub by_family: Vec<FamilyRow>,
    /// Requests declined per day and family: the attempts made after a
    /// block (small-cell rule per family and period in public mode).
    pub declined_by_day: Vec<PubDay>,
    /// Per policy change and list, the time to the first request declined
    /// from a newly blocked agency (no ORI in a public report).
    pub time_to_block: Vec<super::TimeToBlock>,
    /// Court-order uses per period, family and issuer kind.
    pub court_orders_by_issuer: Vec<PubIssuer>,
    /// Requests per month and message key, per family that is not exempt
    /// (Washington's layout).
    pub by_month_and_key: Vec<PubMonthKey>,
    /// The Colorado summary per period and family (SB21-131, SB25-276).
    pub colorado: Vec<ColoradoRow>,
    /// The small-cell threshold of each public table (empty: internal).
    pub small_cells: BTreeMap<String, u64>,
    /// Per log: the previous report's signed checkpoint and the
    /// consistency proof from it to this report's (`report --previous`).
    pub consistency: Vec<super::consistency::Consistency>,
}

/// Court-order uses in a period by a family under orders of one issuer kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PubIssuer {
    /// Period.
    pub period: String,
    /// The family (list).
    pub list: String,
    /// `federal_judge`, `magistrate_judge`, `state_judge` or `unknown`.
    pub issuer: String,
    /// Queries let through.
    pub queries: Cell,
    /// Responses released.
    pub releases: Cell,
}

/// Requests from one family in one month with one message key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PubMonthKey {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// The family (list).
    pub list: String,
    /// Message key.
    pub key: String,
    /// Its plain name.
    pub key_name: String,
    /// Requests received.
    pub received: Cell,
    /// Of those, declined.
    pub declined: Cell,
}

/// One family's line of the Colorado summary for a period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColoradoRow {
    /// Period (`2026-Q4` quarterly, `2026` annual).
    pub period: String,
    /// The family (list).
    pub family: String,
    /// Its description.
    pub description: String,
    /// Requests received (every message kind).
    pub requests: Fig,
    /// Requests declined.
    pub declined: Fig,
    /// Responses released with protected fields withheld.
    pub released_redacted: Fig,
    /// Responses released under a court order, per issuer kind (every kind
    /// shown, 0 when none).
    pub released_under_court_order: BTreeMap<String, Fig>,
    /// Of those, released under an order not issued by a federal judge or
    /// magistrate (SB25-276 asks for one): should be 0.
    pub released_without_federal_judge: Fig,
}

/// Requests declined on one day from one family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PubDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The period the day falls in.
    pub period: String,
    /// The list.
    pub list: String,
    /// Requests declined.
    pub declined: Cell,
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

/// A group's published cells: received, the outcomes, identity holds.
type GroupCells = (Cell, [Cell; 4], bool);

/// Publishes the report for `mode`; `generated` is the time to print.
pub fn publish(r: &Report, mode: Mode, generated: &str) -> Published {
    publish_with(r, mode, generated, &SmallCells::default())
}

/// [`publish`], with the small-cell threshold of each public table from
/// `small` (internal reports are exact whatever it says).
pub fn publish_with(r: &Report, mode: Mode, generated: &str, small: &SmallCells) -> Published {
    let figures = small.rule(mode, "figures");
    let cells = suppress_groups(&exact_groups(r), figures);
    let rows = pub_rows(r, &cells, figures);
    let periods = period_totals(&rows);
    let mut watch_count = BTreeMap::new();
    for w in &r.watch {
        *watch_count.entry(w.period.clone()).or_insert(0) += 1;
    }
    let internal = mode == Mode::Internal;
    let orders_rule = small.rule(mode, "court_orders");
    let court_orders = court_orders(r, internal, orders_rule);
    let court_orders_by_issuer = by_issuer(r, orders_rule);
    let by_family = by_family(r, &rows, &cells);
    let colorado = colorado(&by_family, &court_orders_by_issuer);
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
        groups: groups(cells),
        rows,
        periods,
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
        court_orders_by_issuer,
        families: r.families.clone(),
        by_family,
        declined_by_day: declined_by_day(r, small.rule(mode, "declined_by_day")),
        by_month_and_key: by_month_and_key(r, small.rule(mode, "by_month_and_key")),
        colorado,
        time_to_block: r
            .time_to_block
            .iter()
            .map(|b| super::TimeToBlock {
                ori: if internal {
                    b.ori.clone()
                } else {
                    String::new()
                },
                ..b.clone()
            })
            .collect(),
        small_cells: match mode {
            Mode::Internal => BTreeMap::new(),
            Mode::Public => small.all(),
        },
        consistency: r.consistency.clone(),
    }
}

/// Exact counts per group: the outcomes and the total.
fn exact_groups(r: &Report) -> BTreeMap<GKey, ([u64; 4], u64)> {
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
    groups
}

/// The small-cell rule inside each group: primary, then secondary (a lone
/// withheld outcome hides the smallest other non-zero outcome, or when
/// there is none the total).
fn suppress_groups(
    groups: &BTreeMap<GKey, ([u64; 4], u64)>,
    rule: Rule,
) -> BTreeMap<GKey, GroupCells> {
    let mut cells = BTreeMap::new();
    for (k, (out, received)) in groups {
        let mut oc = out.map(|n| rule.cell(n));
        let mut rc = rule.cell(*received);
        let suppressed = oc.iter().filter(|c| c.hidden()).count();
        if rule.suppresses() && suppressed == 1 && !rc.hidden() {
            // The smallest other non-zero published outcome, else the total.
            let other = (0..4)
                .filter(|&i| !oc[i].hidden() && out[i] > 0)
                .min_by_key(|&i| out[i]);
            match other {
                Some(i) => oc[i] = rule.hidden(),
                None => rc = rule.hidden(),
            }
        }
        let holds = out.iter().sum::<u64>() == *received;
        cells.insert(k.clone(), (rc, oc, holds));
    }
    cells
}

/// The published groups, in key order.
fn groups(cells: BTreeMap<GKey, GroupCells>) -> Vec<Group> {
    cells
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
        .collect()
}

/// Rows per group outcome: two when some of its messages passed under a
/// court order. A lone row publishes the group's cell; split rows each
/// take the small-cell rule, and all are withheld when the group's cell
/// is or when one alone would be (it could be worked out).
fn pub_rows(r: &Report, cells: &BTreeMap<GKey, GroupCells>, rule: Rule) -> Vec<PubRow> {
    let gkey = |row: &super::Row| {
        (
            row.period.clone(),
            row.direction.clone(),
            row.list.clone(),
            row.key.clone(),
        )
    };
    let mut split: BTreeMap<(GKey, String), Vec<u64>> = BTreeMap::new();
    for row in &r.rows {
        split
            .entry((gkey(row), row.outcome.clone()))
            .or_default()
            .push(row.messages);
    }
    r.rows
        .iter()
        .map(|row| {
            let k = gkey(row);
            let group_cell = match (
                OUTCOMES.iter().position(|o| *o == row.outcome),
                cells.get(&k),
            ) {
                (Some(i), Some((_, oc, _))) => oc[i],
                _ => rule.cell(row.messages),
            };
            let parts = split
                .get(&(k, row.outcome.clone()))
                .map_or(&[][..], |v| &v[..]);
            let messages = if parts.len() <= 1 {
                group_cell
            } else if group_cell.hidden() || parts.iter().any(|n| rule.cell(*n).hidden()) {
                rule.hidden()
            } else {
                Cell::Exact(row.messages)
            };
            PubRow {
                period: row.period.clone(),
                direction: row.direction.clone(),
                list: row.list.clone(),
                key: row.key.clone(),
                key_name: key_name(&row.key),
                outcome: row.outcome.clone(),
                messages,
                photos_withheld: rule.cell(row.photos_withheld),
                pob_withheld: rule.cell(row.pob_withheld),
                delivered: rule.cell(row.delivered),
                court_order: row.court_order,
            }
        })
        .collect()
}

/// Per period, sums of the published rows (lower bounds where a cell was
/// withheld).
fn period_totals(rows: &[PubRow]) -> Vec<PeriodTotal> {
    let mut periods: BTreeMap<String, PeriodTotal> = BTreeMap::new();
    for row in rows {
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
        p.partial |= cells.iter().any(|c| c.hidden());
        let driver = row.direction == "inbound" && matches!(row.key.as_str(), "DQ" | "DQG" | "DNQ");
        if driver && row.messages.hidden() {
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
    periods.into_values().collect()
}

/// Court orders used: internal, one row per order and period (exact);
/// public, one row per period (the number of orders used and their uses)
/// under the `court_orders` rule, never an id.
fn court_orders(r: &Report, internal: bool, rule: Rule) -> Vec<PubOrders> {
    if internal {
        return r
            .court_orders
            .iter()
            .map(|c| PubOrders {
                period: c.period.clone(),
                exception: Some(c.exception.clone()),
                orders: Cell::Exact(1),
                queries: Cell::Exact(c.queries),
                responses: Cell::Exact(c.responses),
            })
            .collect();
    }
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
            orders: rule.cell(o),
            queries: rule.cell(q),
            responses: rule.cell(x),
        })
        .collect()
}

/// Court-order uses per period, family and issuer kind, under the
/// `court_orders` rule; within a period, a lone withheld count of a column
/// hides the smallest other non-zero one (the period's total is published
/// in the court-order table).
fn by_issuer(r: &Report, rule: Rule) -> Vec<PubIssuer> {
    let mut out: Vec<PubIssuer> = r
        .court_orders_by_issuer
        .iter()
        .map(|u| PubIssuer {
            period: u.period.clone(),
            list: u.list.clone(),
            issuer: u.issuer.clone(),
            queries: rule.cell(u.queries),
            releases: rule.cell(u.releases),
        })
        .collect();
    if rule.suppresses() {
        let mut per: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, u) in r.court_orders_by_issuer.iter().enumerate() {
            per.entry(&u.period).or_default().push(i);
        }
        for idx in per.values() {
            let q: Vec<u64> = idx
                .iter()
                .map(|&i| r.court_orders_by_issuer[i].queries)
                .collect();
            let x: Vec<u64> = idx
                .iter()
                .map(|&i| r.court_orders_by_issuer[i].releases)
                .collect();
            let mut qc: Vec<Cell> = idx.iter().map(|&i| out[i].queries).collect();
            let mut xc: Vec<Cell> = idx.iter().map(|&i| out[i].releases).collect();
            secondary(&mut qc, &q, rule);
            secondary(&mut xc, &x, rule);
            for (j, &i) in idx.iter().enumerate() {
                out[i].queries = qc[j];
                out[i].releases = xc[j];
            }
        }
    }
    out
}

/// Secondary suppression over parts whose sum is published elsewhere:
/// when exactly one part is withheld, the smallest other non-zero part is
/// withheld too.
fn secondary(cells: &mut [Cell], exact: &[u64], rule: Rule) {
    if cells.iter().filter(|c| c.hidden()).count() != 1 {
        return;
    }
    if let Some(j) = (0..cells.len())
        .filter(|&j| !cells[j].hidden() && exact[j] > 0)
        .min_by_key(|&j| exact[j])
    {
        cells[j] = rule.hidden();
    }
}

/// Requests per month and message key, per family that is not exempt
/// (Washington's layout: federal queries per month and key), with the
/// received and declined cells of the month's groups under the
/// `by_month_and_key` rule (primary and secondary as in the figures).
fn by_month_and_key(r: &Report, rule: Rule) -> Vec<PubMonthKey> {
    let mut groups: BTreeMap<GKey, ([u64; 4], u64)> = BTreeMap::new();
    for m in &r.by_month {
        let allowed = r
            .families
            .iter()
            .any(|f| f.name == m.list && f.action == "allow");
        if m.list == "none" || allowed {
            continue;
        }
        let g = groups
            .entry((
                m.month.clone(),
                "inbound".into(),
                m.list.clone(),
                m.key.clone(),
            ))
            .or_default();
        g.0 = m.outcomes;
        g.1 = m.outcomes.iter().sum();
    }
    suppress_groups(&groups, rule)
        .into_iter()
        .map(|((month, _, list, key), (received, oc, _))| PubMonthKey {
            month,
            key_name: key_name(&key),
            list,
            key,
            received,
            declined: oc[2],
        })
        .collect()
}

/// The Colorado summary (SB21-131 quarterly, SB25-276 annual): per period
/// and family that is not exempt, from the family answers and the uses by
/// issuer kind (sums of published cells).
fn colorado(by_family: &[FamilyRow], issuers: &[PubIssuer]) -> Vec<ColoradoRow> {
    by_family
        .iter()
        .filter(|f| f.family != "none" && f.action != "allow")
        .map(|f| {
            let mut by_issuer: BTreeMap<String, Fig> = BTreeMap::new();
            for kind in ISSUERS {
                by_issuer.insert(kind.to_string(), Fig::default());
            }
            let mut not_federal = Fig::default();
            for u in issuers
                .iter()
                .filter(|u| u.period == f.period && u.list == f.family)
            {
                by_issuer
                    .entry(u.issuer.clone())
                    .or_default()
                    .add(u.releases);
                if !FEDERAL_ISSUERS.contains(&u.issuer.as_str()) {
                    not_federal.add(u.releases);
                }
            }
            ColoradoRow {
                period: f.period.clone(),
                family: f.family.clone(),
                description: f.description.clone(),
                requests: f.received,
                declined: f.declined,
                released_redacted: f.released_redacted,
                released_under_court_order: by_issuer,
                released_without_federal_judge: not_federal,
            }
        })
        .collect()
}

/// Issuer kinds a court order may have (`authority.issuer`).
pub const ISSUERS: [&str; 3] = ["federal_judge", "magistrate_judge", "state_judge"];

/// Issuers SB25-276 accepts for a release through a database or automated
/// network: a federal judge or magistrate.
pub const FEDERAL_ISSUERS: [&str; 2] = ["federal_judge", "magistrate_judge"];

/// The per-family answers of every period (every family, zeros shown),
/// summed over published cells: requests received from a group's
/// published total, the rest from the published rows.
fn by_family(r: &Report, rows: &[PubRow], cells: &BTreeMap<GKey, GroupCells>) -> Vec<FamilyRow> {
    let mut periods: Vec<&String> = r.rows.iter().map(|x| &x.period).collect();
    periods.sort();
    periods.dedup();
    let mut out = Vec::new();
    for period in periods {
        for f in &r.families {
            let mut row = FamilyRow {
                period: period.clone(),
                family: f.name.clone(),
                description: f.description.clone(),
                action: f.action.clone(),
                received: Fig::default(),
                declined: Fig::default(),
                released_redacted: Fig::default(),
                court_order_queries: Fig::default(),
                court_order_releases: Fig::default(),
                days_with_declines: r
                    .declined_by_day
                    .iter()
                    .filter(|d| d.list == f.name && r.period.of(&d.day) == *period)
                    .count() as u64,
            };
            for ((p, d, l, _), (received, _, _)) in cells {
                if p == period && l == &f.name && d == "inbound" {
                    row.received.add(*received);
                }
            }
            for x in rows
                .iter()
                .filter(|x| &x.period == period && x.list == f.name)
            {
                let (inb, out) = (x.direction == "inbound", x.direction == "outbound");
                let counts = [
                    (inb && x.outcome == "denied", &mut row.declined),
                    (out && x.outcome == "redacted", &mut row.released_redacted),
                    (inb && x.court_order, &mut row.court_order_queries),
                    (out && x.court_order, &mut row.court_order_releases),
                ];
                for (hit, field) in counts {
                    if hit {
                        field.add(x.messages);
                    }
                }
            }
            out.push(row);
        }
    }
    out
}

/// Requests declined per day and family; in public mode each day under the
/// small-cell rule, and when one day alone of a family's period is withheld
/// the smallest other non-zero day is too (so that the period's total
/// cannot give it away).
fn declined_by_day(r: &Report, rule: Rule) -> Vec<PubDay> {
    let mut out: Vec<PubDay> = r
        .declined_by_day
        .iter()
        .map(|d| PubDay {
            day: d.day.clone(),
            period: r.period.of(&d.day),
            list: d.list.clone(),
            declined: rule.cell(d.messages),
        })
        .collect();
    if rule.suppresses() {
        let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, d) in out.iter().enumerate() {
            groups
                .entry((d.period.clone(), d.list.clone()))
                .or_default()
                .push(i);
        }
        for idx in groups.values() {
            if idx.iter().filter(|&&i| out[i].declined.hidden()).count() == 1 {
                if let Some(&j) = idx
                    .iter()
                    .filter(|&&i| !out[i].declined.hidden())
                    .min_by_key(|&&i| r.declined_by_day[i].messages)
                {
                    out[j].declined = rule.hidden();
                }
            }
        }
    }
    out
}

/// The CSV: `period,direction,list,key,outcome,messages,photos_withheld,pob_withheld,court_order`
/// (`court_order`: `yes` for messages that passed under a court order).
pub fn csv(p: &Published) -> String {
    let mut out = String::from(
        "period,direction,list,key,outcome,messages,photos_withheld,pob_withheld,court_order\n",
    );
    for r in &p.rows {
        let f = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            f(&r.period),
            f(&r.direction),
            f(&r.list),
            f(&r.key),
            f(&r.outcome),
            r.messages,
            r.photos_withheld,
            r.pob_withheld,
            if r.court_order { "yes" } else { "no" }
        ));
    }
    out
}

/// A CSV field, quoted when it must be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A sum of published cells in a CSV: `N`, or `>=N` for a lower bound.
fn fig(f: Fig) -> String {
    if f.at_least {
        format!(">={}", f.value)
    } else {
        f.value.to_string()
    }
}

/// `by_month_and_key.csv` (Washington's layout):
/// `month,list,key,received,declined`.
pub fn csv_by_month_and_key(p: &Published) -> String {
    let mut out = String::from("month,list,key,received,declined\n");
    for m in &p.by_month_and_key {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            field(&m.month),
            field(&m.list),
            field(&m.key),
            m.received,
            m.declined
        ));
    }
    out
}

/// `colorado.csv` (SB21-131 quarterly, SB25-276 annual):
/// `period,family,requests,declined,released_redacted,released_order_federal_judge,released_order_magistrate_judge,released_order_state_judge,released_without_federal_judge`
/// (`>=N`: a lower bound, a count under the threshold behind it).
pub fn csv_colorado(p: &Published) -> String {
    let mut out = String::from("period,family,requests,declined,released_redacted,released_order_federal_judge,released_order_magistrate_judge,released_order_state_judge,released_without_federal_judge\n");
    for c in &p.colorado {
        let by = |k: &str| {
            fig(c
                .released_under_court_order
                .get(k)
                .copied()
                .unwrap_or_default())
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            field(&c.period),
            field(&c.family),
            fig(c.requests),
            fig(c.declined),
            fig(c.released_redacted),
            by("federal_judge"),
            by("magistrate_judge"),
            by("state_judge"),
            fig(c.released_without_federal_judge)
        ));
    }
    out
}

/// One line of "In short": a question, the period, the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The question, in plain words.
    pub question: String,
    /// The period it is answered for (`all` for the whole report).
    pub period: String,
    /// The answer (figures with "at least" where a cell was withheld).
    pub answer: String,
}

/// The family's name for a reader: its description and its list name.
pub fn family_words(name: &str, description: &str) -> String {
    match (name, description.is_empty()) {
        ("none", _) => "agencies on no list".to_string(),
        (_, true) => format!("list “{name}”"),
        (_, false) => format!("{description} (list “{name}”)"),
    }
}

/// "In short": per period, every family's requests received and declined,
/// responses released redacted and court-order uses (every message kind
/// counted, zeros shown), the photos and places of birth withheld, and
/// whether the log is intact. The demo prints the same lines.
pub fn in_short(p: &Published) -> Vec<Answer> {
    let mut out = Vec::new();
    let at_least = |partial: bool| if partial { "at least " } else { "" };
    for t in &p.periods {
        for f in p.by_family.iter().filter(|f| f.period == t.period) {
            out.push(Answer {
                question: format!(
                    "Requests from {}",
                    family_words(&f.family, &f.description)
                ),
                period: t.period.clone(),
                answer: format!(
                    "{} received, {} declined; released with fields withheld: {}; court orders: {} queries let through, {} responses released",
                    f.received,
                    f.declined,
                    f.released_redacted,
                    f.court_order_queries,
                    f.court_order_releases
                ),
            });
        }
        let a = at_least(t.partial);
        out.push(Answer {
            question:
                "Photos withheld from responses (removed, or the photo response withheld whole)"
                    .into(),
            period: t.period.clone(),
            answer: format!("{a}{}", t.photos_withheld),
        });
        out.push(Answer {
            question: "Places of birth withheld from responses".into(),
            period: t.period.clone(),
            answer: format!("{a}{}", t.pob_withheld),
        });
    }
    out.push(Answer {
        question: "Is the log behind the numbers intact?".into(),
        period: "all".into(),
        answer: if p.intact { "yes" } else { "no" }.into(),
    });
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
