//! From the tallies to the report's sorted rows, the watch list of
//! unlisted agencies, and the families answered for.

use super::*;

/// The rows, in period, direction, list, key, outcome, court-order order.
fn rows(t: &Tally) -> Vec<Row> {
    let n = &t.names;
    let mut rows: Vec<Row> = t
        .rows
        .iter()
        .map(|(k, c)| Row {
            period: n.name(k[0]),
            direction: n.name(k[1]),
            list: n.name(k[2]),
            key: n.name(k[3]),
            outcome: n.name(k[4]),
            messages: c.messages,
            photos_withheld: c.photos,
            pob_withheld: c.pob,
            delivered: c.delivered,
            court_order: k[5] == 1,
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            &a.period,
            &a.direction,
            &a.list,
            &a.key,
            outcome_rank(&a.outcome),
            a.court_order,
        )
            .cmp(&(
                &b.period,
                &b.direction,
                &b.list,
                &b.key,
                outcome_rank(&b.outcome),
                b.court_order,
            ))
    });
    rows
}

/// Per agency, per period (internal reports).
fn agencies(t: &Tally) -> Vec<AgencyRow> {
    let n = &t.names;
    let mut agencies: Vec<AgencyRow> = t
        .agencies
        .iter()
        .map(|(k, &messages)| AgencyRow {
            period: n.name(k[0]),
            ori: n.name(k[1]),
            list: n.name(k[2]),
            outcome: n.name(k[3]),
            messages,
        })
        .collect();
    agencies.sort_by(|a, b| {
        (&a.period, &a.ori, &a.list, outcome_rank(&a.outcome)).cmp(&(
            &b.period,
            &b.ori,
            &b.list,
            outcome_rank(&b.outcome),
        ))
    });
    agencies
}

/// Unlisted agencies to look at: a rise, an unusual share, or an ORI
/// that looks federal.
fn watch_list(t: &Tally) -> Vec<Watch> {
    let n = &t.names;
    let watched: std::collections::HashMap<(String, String), u64> = t
        .watched
        .iter()
        .map(|(k, &v)| ((n.name(k[0]), n.name(k[1])), v))
        .collect();
    let mut watch = watch(&watched);
    // Agencies on no list that look federal ([federal] watch): always listed.
    for (k, &q) in &t.federal {
        let (period, ori) = (n.name(k[0]), n.name(k[1]));
        match watch
            .iter_mut()
            .find(|w| w.period == period && w.ori == ori)
        {
            Some(w) => w.why.push_str("+federal"),
            None => {
                let total: u64 = watched
                    .iter()
                    .filter(|((p, _), _)| *p == period)
                    .map(|(_, v)| v)
                    .sum();
                watch.push(Watch {
                    period,
                    ori,
                    queries: q,
                    baseline: 0.0,
                    share: q as f64 / total.max(1) as f64,
                    why: "federal".into(),
                })
            }
        }
    }
    watch.sort_by(|a, b| (&a.period, &a.ori).cmp(&(&b.period, &b.ori)));
    watch
}

/// Court-order uses per order and period, and per family and issuer kind.
fn court_orders(t: &Tally) -> (Vec<CourtOrderUse>, Vec<IssuerUse>) {
    let n = &t.names;
    let mut court_orders: Vec<CourtOrderUse> = t
        .orders
        .iter()
        .map(|(k, c)| CourtOrderUse {
            period: n.name(k[0]),
            exception: n.name(k[1]),
            queries: c[0],
            responses: c[1],
        })
        .collect();
    court_orders.sort_by(|a, b| (&a.period, &a.exception).cmp(&(&b.period, &b.exception)));
    let mut court_orders_by_issuer: Vec<IssuerUse> = t
        .issuers
        .iter()
        .map(|(k, c)| IssuerUse {
            period: n.name(k[0]),
            list: n.name(k[1]),
            issuer: n.name(k[2]),
            queries: c[0],
            releases: c[1],
        })
        .collect();
    court_orders_by_issuer
        .sort_by(|a, b| (&a.period, &a.list, &a.issuer).cmp(&(&b.period, &b.list, &b.issuer)));
    (court_orders, court_orders_by_issuer)
}

/// Inbound messages per month, list and key.
fn by_month(t: &Tally) -> Vec<MonthRow> {
    let n = &t.names;
    let mut by_month: Vec<MonthRow> = t
        .months
        .iter()
        .map(|(k, &outcomes)| MonthRow {
            month: n.name(k[0]),
            list: n.name(k[1]),
            key: n.name(k[2]),
            outcomes,
        })
        .collect();
    by_month.sort_by(|a, b| (&a.month, &a.list, &a.key).cmp(&(&b.month, &b.list, &b.key)));
    by_month
}

/// Requests declined per day and list.
fn declined_by_day(t: &Tally) -> Vec<DayCount> {
    let n = &t.names;
    let mut declined_by_day: Vec<DayCount> = t
        .declined_days
        .iter()
        .map(|(k, &messages)| DayCount {
            day: n.name(k[0]),
            list: n.name(k[1]),
            messages,
        })
        .collect();
    declined_by_day.sort_by(|a, b| (&a.day, &a.list).cmp(&(&b.day, &b.list)));
    declined_by_day
}

/// Every configured family, then any other list the log names, then
/// the agencies on no list.
fn families(rows: &[Row], opts: &Options) -> Vec<Family> {
    let mut families = opts.families.clone();
    let mut seen: Vec<&str> = rows.iter().map(|r| r.list.as_str()).collect();
    seen.sort();
    seen.dedup();
    for l in seen {
        if l != "none" && !families.iter().any(|f| f.name == l) {
            families.push(Family {
                name: l.to_string(),
                description: String::new(),
                action: String::new(),
            });
        }
    }
    families.push(Family {
        name: "none".into(),
        description: "Agencies on no list".into(),
        action: String::new(),
    });
    families
}

/// Turns the tallies into the report's sorted rows.
pub(super) fn finish(t: Tally, logs: Vec<LogCheck>, opts: &Options) -> Report {
    let rows = rows(&t);
    let families = families(&rows, opts);
    let (court_orders, court_orders_by_issuer) = court_orders(&t);
    let (watch, agencies) = (watch_list(&t), agencies(&t));
    let (by_month, declined_by_day) = (by_month(&t), declined_by_day(&t));
    Report {
        period: opts.period,
        from: opts.from.clone(),
        to: opts.to.clone(),
        intact: logs.iter().all(|l| l.intact) && !logs.is_empty(),
        logs,
        decisions: t.decisions,
        first_ts: t.first_ts,
        last_ts: t.last_ts,
        notices: t.notices,
        rows,
        watch,
        agencies,
        court_orders,
        court_orders_by_issuer,
        by_month,
        families,
        declined_by_day,
        time_to_block: t.blocked,
        consistency: Vec::new(),
    }
}

pub(super) fn outcome_rank(o: &str) -> usize {
    OUTCOMES
        .iter()
        .position(|x| *x == o)
        .unwrap_or(OUTCOMES.len())
}

/// Unlisted agencies whose driver or photo queries rose sharply against
/// their own history (≥ 3× their mean over earlier periods) or took an
/// unusual share of a period (≥ 25 %), with at least 20 queries.
pub(super) fn watch(counts: &std::collections::HashMap<(String, String), u64>) -> Vec<Watch> {
    let mut periods: Vec<&String> = counts.keys().map(|(p, _)| p).collect();
    periods.sort();
    periods.dedup();
    let mut out = Vec::new();
    for (i, p) in periods.iter().enumerate() {
        let total: u64 = counts
            .iter()
            .filter(|((q, _), _)| q == *p)
            .map(|(_, n)| n)
            .sum();
        for ((q, ori), &n) in counts {
            if q != *p || n < 20 {
                continue;
            }
            let earlier: Vec<u64> = periods[..i]
                .iter()
                .map(|e| {
                    counts
                        .get(&((*e).clone(), ori.clone()))
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            let baseline = if earlier.is_empty() {
                0.0
            } else {
                earlier.iter().sum::<u64>() as f64 / earlier.len() as f64
            };
            let share = n as f64 / total.max(1) as f64;
            let why = if !earlier.is_empty() && n as f64 >= 3.0 * baseline.max(1.0) {
                "rise"
            } else if share >= 0.25 && total >= 40 {
                "share"
            } else {
                continue;
            };
            out.push(Watch {
                period: (*p).clone(),
                ori: ori.clone(),
                queries: n,
                baseline,
                share,
                why: why.into(),
            });
        }
    }
    out.sort_by(|a, b| (&a.period, &a.ori).cmp(&(&b.period, &b.ori)));
    out
}
