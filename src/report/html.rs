//! `report.html`: one self-contained, printable page — integrity first, then
//! the answers a reader comes for, charts (inline SVG, no network, no
//! scripts needed to read it) and the tables behind them.
//!
//! A small inline script only *checks* the page after the browser laid it
//! out (bars drawn, table sums) and writes what it found into
//! `#render-check`, which the browser test reads; the page reads the same
//! without it.

use super::publish::{Cell, Published};
use super::{key_name, Mode, OUTCOMES};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Plain words for an outcome.
fn outcome_words(o: &str) -> &'static str {
    match o {
        "passed" => "passed unchanged",
        "redacted" => "passed with fields withheld",
        "denied" => "declined",
        "dropped" => "not forwarded (could not be made safe)",
        _ => "other",
    }
}

fn direction_words(d: &str) -> &'static str {
    match d {
        "inbound" => "to Colorado (queries from other agencies)",
        "outbound" => "from Colorado (responses and messages sent)",
        _ => "unknown direction",
    }
}

const COLORS: [&str; 4] = ["#4c78a8", "#f2a93b", "#d6404e", "#7f7f7f"];

fn list_words(l: &str) -> String {
    if l == "none" {
        "agencies on no list".into()
    } else {
        format!("list “{}”", esc(l))
    }
}

/// Horizontal stacked bars of one direction (one kind of message: requests
/// to the state, or responses and messages from it): one bar per (period,
/// list), segments by outcome, summed over published cells. Labels sit on
/// the left of their bar, never rotated, inside the drawing (the SVG scales
/// to the page width, so nothing is cut off on a narrow screen).
fn direction_bars(p: &Published, dir: &str) -> String {
    let bars = direction_sums(p, dir);
    if bars.is_empty() {
        let here = p.rows.iter().filter(|r| r.direction == dir).count();
        return if here > 0 {
            format!(
                "<p>No count of this kind can be shown: the {} decisions counted fall in cells under 10, which a public report withholds (see “All figures”).</p>",
                p.decisions
            )
        } else {
            "<p>No messages of this kind in this range.</p>".into()
        };
    }
    let max = bars
        .iter()
        .map(|b| b.2.iter().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let label = |period: &str, list: &str| format!("{period} · {}", list_label(list));
    let chars = bars
        .iter()
        .map(|(pe, l, _)| label(pe, l).chars().count())
        .max()
        .unwrap_or(10);
    let (row_h, bar_h, plot) = (26.0, 18.0, 420.0);
    let left = chars as f64 * 6.6 + 12.0;
    let width = left + plot + 70.0;
    let height = bars.len() as f64 * row_h + 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-label="Messages {} by list and outcome" width="100%" style="max-width:{width:.0}px" viewBox="0 0 {width:.0} {height:.0}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">"#,
        direction_words(dir)
    );
    for (i, (period, list, v)) in bars.iter().enumerate() {
        let y = 5.0 + i as f64 * row_h;
        let _ = write!(
            s,
            r#"<text class="label" x="0" y="{:.1}" font-size="11">{}</text>"#,
            y + bar_h - 5.0,
            esc(&label(period, list))
        );
        let mut x = left;
        for (k, n) in v.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            // At least a pixel: a small count stays visible.
            let w = (*n as f64 / max as f64 * plot).max(1.0);
            let _ = write!(
                s,
                r#"<rect class="bar" data-value="{n}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bar_h}" fill="{}"><title>{} — {}: {n} {}</title></rect>"#,
                COLORS[k],
                esc(period),
                esc(list),
                outcome_words(OUTCOMES[k])
            );
            x += w;
        }
        let _ = write!(
            s,
            r#"<text class="value" x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            x + 4.0,
            y + bar_h - 5.0,
            v.iter().sum::<u64>()
        );
    }
    s.push_str("</svg>");
    s
}

/// Per (period, list) of one direction, the published messages per
/// outcome; bars with nothing published left out.
fn direction_sums(p: &Published, dir: &str) -> Vec<(String, String, [u64; 4])> {
    let mut sums: std::collections::BTreeMap<(String, String), [u64; 4]> = Default::default();
    for r in p.rows.iter().filter(|r| r.direction == dir) {
        if let (Some(i), Some(n)) = (
            OUTCOMES.iter().position(|o| *o == r.outcome),
            r.messages.value(),
        ) {
            sums.entry((r.period.clone(), r.list.clone())).or_default()[i] += n;
        }
    }
    sums.into_iter()
        .filter(|(_, v)| v.iter().sum::<u64>() > 0)
        .map(|((p, l), v)| (p, l, v))
        .collect()
}

/// A list's short label in a chart.
fn list_label(l: &str) -> String {
    if l == "none" {
        "no list".into()
    } else {
        l.to_string()
    }
}

/// Simple bars of one value per period.
fn period_bars(
    p: &Published,
    label: &str,
    color: &str,
    f: impl Fn(&super::publish::PeriodTotal) -> u64,
) -> String {
    let vals: Vec<(String, u64)> = p.periods.iter().map(|t| (t.period.clone(), f(t))).collect();
    if vals.is_empty() {
        return "<p>No messages in this range.</p>".into();
    }
    let max = vals.iter().map(|v| v.1).max().unwrap_or(1).max(1);
    let _ = p;
    let (bw, gap, h, left) = (40.0, 16.0, 140.0, 60.0);
    let width = left + vals.len() as f64 * (bw + gap) + 20.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" role="img" aria-label="{}" width="100%" style="max-width:{width:.0}px" viewBox="0 0 {width:.0} {:.0}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">"#,
        esc(label),
        h + 64.0
    );
    for (i, (period, n)) in vals.iter().enumerate() {
        let x = left + 8.0 + i as f64 * (bw + gap);
        if *n == 0 {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">0</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                20.0 + h,
                x + bw / 2.0,
                h + 40.0,
                esc(period)
            );
            continue;
        }
        let bh = (*n as f64 / max as f64 * h).max(1.0);
        let _ = write!(
            s,
            r#"<rect class="bar" data-value="{n}" x="{x:.1}" y="{:.1}" width="{bw}" height="{bh:.1}" fill="{color}"><title>{}: {n}</title></rect><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{n}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
            24.0 + h - bh,
            esc(period),
            x + bw / 2.0,
            20.0 + h - bh,
            x + bw / 2.0,
            h + 40.0,
            esc(period)
        );
    }
    s.push_str("</svg>");
    s
}

/// The colour key of the outcome charts.
fn legend(h: &mut String) {
    h.push_str("<p class=\"legend\">");
    for (k, o) in OUTCOMES.iter().enumerate() {
        let _ = write!(
            h,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            COLORS[k],
            outcome_words(o)
        );
    }
    h.push_str("</p>");
}

/// The per-family table (every family of the policy, zeros shown) and the
/// requests declined per day (attempts after a block).
fn families(h: &mut String, p: &Published) {
    h.push_str("<h2>By agency family</h2><p class=\"note\">One row per list of the policy (and the agencies on no list), with 0 where nothing happened. Requests: messages of every kind from the family to Colorado. Released: responses of every kind from Colorado to it. “at least”: a count under 10 behind the figure is withheld.</p><table class=\"families cards\"><tr><th>Period</th><th>Agency family</th><th>Rule</th><th>Requests received</th><th>Requests declined</th><th>Released with fields withheld</th><th>Court orders: queries let through</th><th>Court orders: responses released</th><th>Days with declined requests</th></tr>");
    for f in &p.by_family {
        let fig = |x: super::publish::Fig| {
            if x.at_least {
                format!("≥ {}", x.value)
            } else {
                x.value.to_string()
            }
        };
        let _ = write!(
            h,
            "<tr class=\"family\" data-family=\"{}\"><td data-label=\"Period\">{}</td><td data-label=\"Agency family\">{}</td><td data-label=\"Rule\">{}</td><td class=\"n\" data-label=\"Requests received\">{}</td><td class=\"n\" data-label=\"Requests declined\">{}</td><td class=\"n\" data-label=\"Released with fields withheld\">{}</td><td class=\"n\" data-label=\"Court orders: queries let through\">{}</td><td class=\"n\" data-label=\"Court orders: responses released\">{}</td><td class=\"n\" data-label=\"Days with declined requests\">{}</td></tr>",
            esc(&f.family),
            esc(&f.period),
            esc(&super::publish::family_words(&f.family, &f.description)),
            match f.action.as_str() {
                "deny" => "declined",
                "redact" => "fields withheld",
                "allow" => "never restricted",
                _ => "policy default",
            },
            fig(f.received),
            fig(f.declined),
            fig(f.released_redacted),
            fig(f.court_order_queries),
            fig(f.court_order_releases),
            f.days_with_declines
        );
    }
    h.push_str("</table>");
    h.push_str("<h3>Time to block</h3><p class=\"note\">From a policy change taking effect to the first request (of any kind) it declined from an agency whose earlier requests had not been declined, per change and list. Agencies that sent nothing before the change are not counted.</p>");
    if p.time_to_block.is_empty() {
        h.push_str("<p>No policy change in this range blocked an agency that had been asking before it.</p>");
    } else {
        h.push_str("<table class=\"cards\"><tr><th>Change took effect (UTC)</th><th>Policy</th><th>Agency family</th><th>First declined request</th><th>Time to block</th></tr>");
        for b in &p.time_to_block {
            let desc = p
                .families
                .iter()
                .find(|f| f.name == b.list)
                .map_or("", |f| f.description.as_str());
            let _ = write!(
                h,
                "<tr><td data-label=\"Change took effect\">{}</td><td data-label=\"Policy\"><code>{}</code></td><td data-label=\"Agency family\">{}{}</td><td data-label=\"First declined request\">{}</td><td class=\"n\" data-label=\"Time to block\">{:.1} s</td></tr>",
                esc(&b.changed),
                esc(&b.version),
                esc(&super::publish::family_words(&b.list, desc)),
                if b.ori.is_empty() { String::new() } else { format!(" — <code>{}</code>", esc(&b.ori)) },
                esc(&b.first_declined),
                b.seconds
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h3>Attempts after a block: requests declined per day</h3><p class=\"note\">Counts requests of every kind from a family to Colorado that were declined, per day (UTC).</p>");
    if p.declined_by_day.is_empty() {
        h.push_str("<p>No request was declined in this range.</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><tr><th>Day</th><th>Agency family</th><th>Requests declined</th></tr>");
        for d in &p.declined_by_day {
            let desc = p
                .families
                .iter()
                .find(|f| f.name == d.list)
                .map_or("", |f| f.description.as_str());
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&d.day),
                esc(&super::publish::family_words(&d.list, desc)),
                cell(d.declined)
            );
        }
        h.push_str("</table></div>");
    }
}

fn cell(c: Cell) -> String {
    match c {
        Cell::Exact(n) => n.to_string(),
        Cell::Suppressed => r#"<span class="sup" title="1 to 9, or withheld so that such a count cannot be worked out">&lt;10</span>"#.into(),
        Cell::Below(n) => format!(
            r#"<span class="sup" title="1 to {}, or withheld so that such a count cannot be worked out">&lt;{n}</span>"#,
            n - 1
        ),
    }
}

/// Issuer kinds in plain words.
fn issuer_words(i: &str) -> &'static str {
    match i {
        "federal_judge" => "federal judge",
        "magistrate_judge" => "federal magistrate judge",
        "state_judge" => "state judge",
        _ => "issuer not recorded",
    }
}

/// A family's words, from the published families.
fn family_of(p: &Published, list: &str) -> String {
    let desc = p
        .families
        .iter()
        .find(|f| f.name == list)
        .map_or("", |f| f.description.as_str());
    super::publish::family_words(list, desc)
}

/// Each log's step from the previous report: the consistency proof.
fn consistency(h: &mut String, p: &Published) {
    if p.consistency.is_empty() {
        h.push_str("<p class=\"note\">No previous report was given: this report carries no consistency proof (the next one will, from the checkpoints above).</p>");
        return;
    }
    h.push_str("<h3>Only appended to since the previous report</h3><p class=\"note\">For each log, a consistency proof (RFC 9162) from the signed checkpoint the previous report published to the one above. Anyone can check it with the two report.json files and the log's public key, without the log: <code>python3 scripts/verify-consistency.py consistency PREVIOUS/report.json report.json --public-key KEY</code>.</p><table class=\"cards\"><tr><th>Log</th><th>Previous checkpoint</th><th>This checkpoint</th><th>Proof</th></tr>");
    for c in &p.consistency {
        let _ = write!(
            h,
            "<tr class=\"consistency\" data-verified=\"{}\"><td data-label=\"Log\"><code>{}</code></td><td data-label=\"Previous\">{} records, root <code>{}</code></td><td data-label=\"This\">{}</td><td data-label=\"Proof\">{}</td></tr>",
            c.verified,
            esc(&c.log_id),
            c.previous.tree_size,
            esc(&c.previous.root),
            c.current.as_ref().map_or("none".to_string(), |x| format!("{} records, root <code>{}</code>", x.tree_size, esc(&x.root))),
            match &c.problem {
                None => format!("{} hashes, verified: only appended to", c.proof.len()),
                Some(e) => format!("<b>{}</b>", esc(e)),
            }
        );
    }
    h.push_str("</table>");
}

/// Washington's layout (requests per month and key) and the Colorado
/// summary (SB21-131 quarterly, SB25-276 annual).
fn publication_shapes(h: &mut String, p: &Published) {
    h.push_str("<h2>Requests per month and message key</h2><p class=\"note\">Requests (messages to Colorado) from each restricted family, per month (UTC) and message key, as Washington published federal queries; declined: of those, refused.</p>");
    if p.by_month_and_key.is_empty() {
        h.push_str("<p>No request from a restricted family in this range.</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><tr><th>Month</th><th>Agency family</th><th>Message</th><th>Requests</th><th>Declined</th></tr>");
        for m in &p.by_month_and_key {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&m.month),
                esc(&family_of(p, &m.list)),
                esc(&m.key_name),
                esc(&m.key),
                cell(m.received),
                cell(m.declined)
            );
        }
        h.push_str("</table></div>");
    }
    h.push_str("<h2>Colorado summary (SB21-131, SB25-276)</h2><p class=\"note\">Per period and restricted family: requests, declined, released with fields withheld, and released under a court order by who issued it. SB25-276 accepts only an order, warrant or subpoena of a federal judge or magistrate for a release through a database or network; the last column should be 0. Run with <code>--period quarter</code> for the quarterly report (SB21-131) and <code>--period year</code> for the annual one (SB25-276).</p>");
    h.push_str("<div class=\"scroll\"><table><tr><th>Period</th><th>Agency family</th><th>Requests</th><th>Declined</th><th>Released with fields withheld</th><th>Released under order: federal judge</th><th>magistrate judge</th><th>state judge</th><th>Released without a federal judge's order</th></tr>");
    for c in &p.colorado {
        let by = |k: &str| {
            c.released_under_court_order
                .get(k)
                .copied()
                .unwrap_or_default()
                .to_string()
        };
        let _ = write!(
            h,
            "<tr class=\"colorado\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&c.period),
            esc(&super::publish::family_words(&c.family, &c.description)),
            c.requests,
            c.declined,
            c.released_redacted,
            by("federal_judge"),
            by("magistrate_judge"),
            by("state_judge"),
            c.released_without_federal_judge
        );
    }
    h.push_str("</table></div>");
}

/// The whole page, section by section (integrity first).
pub fn render(p: &Published) -> String {
    let mut h = String::new();
    head(&mut h);
    verdict(&mut h, p);
    in_short(&mut h, p);
    families(&mut h, p);
    charts(&mut h, p);
    integrity(&mut h, p);
    consistency(&mut h, p);
    notices(&mut h, p);
    all_figures(&mut h, p);
    watch(&mut h, p);
    court_orders(&mut h, p);
    orders_by_issuer(&mut h, p);
    publication_shapes(&mut h, p);
    how_to_read(&mut h);
    methodology(&mut h, p);
    render_check(&mut h);
    h.push_str("</body></html>\n");
    h
}

/// The document head: title, viewport, the inline style.
fn head(h: &mut String) {
    let title = "origuard oversight report";
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}}
h1{{font-size:1.6em;margin-bottom:.2em}} h2{{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}}
.verdict{{padding:.8em 1em;border-radius:6px;font-weight:600;font-size:1.1em}}
.ok{{background:#e6f4ea;border:1px solid #5b9f6a}} .bad{{background:#fde8e8;border:2px solid #c0392b}}
table{{border-collapse:collapse;margin:.5em 0 1em;font-size:.92em}} th,td{{border:1px solid #ccc;padding:.25em .55em;text-align:left}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
th{{background:#f3f3f3}} .sup{{color:#666;font-style:italic}} .legend span{{display:inline-block;margin-right:1.2em}} .legend i{{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-1px}}
.note{{color:#555;font-size:.9em}} code{{word-break:break-all}} .answers td:first-child{{max-width:520px}}
.scroll{{overflow-x:auto;max-width:100%}} svg.chart{{display:block;height:auto}} td.n{{white-space:nowrap}}
@media (max-width:600px){{body{{margin:1em auto;padding:0 .6em}} table{{font-size:.82em}} th,td{{padding:.2em .35em}} .answers td:first-child{{max-width:none}}
table.cards,table.cards tbody,table.cards tr,table.cards td{{display:block;width:auto}} table.cards th,table.cards tr:first-child{{display:none}} table.cards tr{{border:1px solid #ccc;margin:0 0 .6em;padding:.3em .4em}} table.cards td{{border:0;text-align:left;white-space:normal;padding:.1em 0}} table.cards td::before{{content:attr(data-label) ": ";font-weight:600;color:#444}}}}
@media print{{body{{margin:0;max-width:none}} h2{{page-break-after:avoid}} table,svg{{page-break-inside:avoid}}}}
</style></head><body>"#
    );
}

/// The verdict (first element of the page) and the title line.
fn verdict(h: &mut String, p: &Published) {
    let title = "origuard oversight report";
    // Integrity first.
    let (cls, verdict) = if p.intact {
        ("ok", "The audit log behind these figures is intact: every record verifies and each file continues the one before.".to_string())
    } else {
        ("bad", "WARNING: the audit log behind these figures does NOT verify. Figures below may be incomplete or altered; see “Integrity”.".to_string())
    };
    let _ = write!(
        h,
        r#"<p id="verdict" class="verdict {cls}" data-intact="{}">{verdict}</p><h1>{title}</h1><p class="note">{} report · made {} by {} · periods: {} · {} decisions counted{}{}</p>"#,
        p.intact,
        if p.mode == Mode::Public {
            "Public"
        } else {
            "Internal (CBI) — contains agency identifiers; do not publish"
        },
        esc(&p.generated),
        esc(&p.software),
        <&str>::from(p.period),
        p.decisions,
        p.first_ts
            .as_deref()
            .map(|f| format!(" · from {}", esc(f)))
            .unwrap_or_default(),
        p.last_ts
            .as_deref()
            .map(|l| format!(" to {}", esc(l)))
            .unwrap_or_default(),
    );
}

/// "In short": the answers per agency family (the demo prints the same lines).
fn in_short(h: &mut String, p: &Published) {
    // The answers, per agency family (the demo prints the same lines).
    h.push_str("<h2>In short</h2><p class=\"note\">Every message kind counts: driver-licence, plate and owner (vehicle registration), photo, criminal-history and any other query or response.</p><table class=\"answers cards\"><tr><th>Question</th><th>Period</th><th>Answer</th></tr>");
    for a in super::publish::in_short(p) {
        let _ = write!(
            h,
            r#"<tr><td data-label="Question">{}</td><td data-label="Period">{}</td><td class="answer" data-label="Answer">{}</td></tr>"#,
            esc(&a.question),
            esc(&a.period),
            esc(&a.answer)
        );
    }
    h.push_str("</table>");
}

/// The charts, one kind of message each, and the suppression note.
fn charts(h: &mut String, p: &Published) {
    // Charts: one kind of message each.
    h.push_str("<h2>Requests to Colorado, by list and outcome</h2><p class=\"note\">Counts messages from other agencies to Colorado (queries of every kind). Responses are in the next chart, never added to these.</p>");
    legend(h);
    h.push_str(&direction_bars(p, "inbound"));
    h.push_str("<h2>Responses and messages from Colorado, by list and outcome</h2><p class=\"note\">Counts messages Colorado sent (responses of every kind).</p>");
    legend(h);
    h.push_str(&direction_bars(p, "outbound"));
    h.push_str("<h2>Requests declined per period</h2><p class=\"note\">Counts requests (messages to Colorado) declined.</p>");
    h.push_str(&period_bars(
        p,
        "Requests declined per period",
        "#d6404e",
        |t| {
            p.rows
                .iter()
                .filter(|r| {
                    r.period == t.period && r.direction == "inbound" && r.outcome == "denied"
                })
                .filter_map(|r| r.messages.value())
                .sum()
        },
    ));
    h.push_str("<h2>Responses released with fields withheld per period</h2><p class=\"note\">Counts responses and messages from Colorado that went out with protected fields removed.</p>");
    h.push_str(&period_bars(
        p,
        "Responses released with fields withheld per period",
        "#f2a93b",
        |t| {
            p.rows
                .iter()
                .filter(|r| {
                    r.period == t.period && r.direction == "outbound" && r.outcome == "redacted"
                })
                .filter_map(|r| r.messages.value())
                .sum()
        },
    ));
    h.push_str("<h2>Photos withheld per period</h2><p class=\"note\">Counts photos: removed from a response, or a photo response withheld whole.</p>");
    h.push_str(&period_bars(
        p,
        "Photos withheld per period",
        "#f2a93b",
        |t| t.photos_withheld,
    ));
    if p.mode == Mode::Public {
        h.push_str("<p class=\"note\">Counts from 1 to 9 are shown as “&lt;10”, and some other counts are withheld so that a small count cannot be worked out from totals. Charts and period totals add up published counts only, so they are lower bounds where a count was withheld (marked “at least”).</p>");
    }
}

/// The logs, their files and heads, and their last checkpoints.
fn integrity(h: &mut String, p: &Published) {
    // Integrity.
    h.push_str("<h2>Integrity</h2><div class=\"scroll\"><table><tr><th>Log</th><th>Files</th><th>Records</th><th>First</th><th>Last</th><th>Head (last record's hash)</th><th>Verdict</th></tr>");
    for l in &p.logs {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&l.log_id),
            l.files
                .iter()
                .map(|f| format!(
                    "{} (records {}–{}){}{}",
                    esc(&f.path),
                    f.first_seq,
                    f.next_seq.saturating_sub(1),
                    f.continues.as_deref().map(|c| format!(", continues after: {}", esc(c))).unwrap_or_default(),
                    f.broken.as_deref().map(|b| format!(" <b>BROKEN: {}</b>", esc(b))).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("<br>"),
            l.records,
            esc(l.first_ts.as_deref().unwrap_or("")),
            esc(l.last_ts.as_deref().unwrap_or("")),
            esc(&l.head),
            if l.intact { "intact" } else { "<b>does not verify</b>" }
        );
    }
    h.push_str("</table></div>");
    for l in &p.logs {
        match &l.last_checkpoint {
            Some(c) => {
                let _ = write!(
                    h,
                    "<p class=\"note\">Log <code>{}</code>: {} checkpoints, each matching the records before it. The last covers records 0–{} with root <code>{}</code> at {} ({}). Compare it with the copy an independent witness collected: <code>origuard audit verify DIR --checkpoint SAVED --public-key KEY</code> proves the log still holds those records unchanged.</p>",
                    esc(&l.log_id),
                    l.checkpoints,
                    c.tree_size.saturating_sub(1),
                    esc(&c.root),
                    esc(&c.time),
                    if c.signature.is_some() { "signed" } else { "<b>unsigned</b>" }
                );
            }
            None => {
                let _ = write!(
                    h,
                    "<p class=\"note\">Log <code>{}</code>: no checkpoint is recorded: compare the head above with one published earlier (<code>origuard audit verify FILE --expect-head HASH</code>).</p>",
                    esc(&l.log_id)
                );
            }
        }
    }
}

/// Policy changes, outages and events.
fn notices(h: &mut String, p: &Published) {
    h.push_str("<h3>Policy changes, outages and events</h3>");
    if p.notices.is_empty() {
        h.push_str("<p>None in this range.</p>");
    } else {
        h.push_str("<table><tr><th>When (UTC)</th><th>What</th></tr>");
        for n in &p.notices {
            let _ = write!(
                h,
                "<tr class=\"notice {}\"><td>{}</td><td>{}</td></tr>",
                esc(&n.kind),
                esc(n.ts.as_deref().unwrap_or("—")),
                esc(&n.text)
            );
        }
        h.push_str("</table>");
    }
}

/// Every group, one table per direction.
fn all_figures(h: &mut String, p: &Published) {
    // Tables.
    let _ = write!(
        h,
        "<h2>All figures</h2><p>Every group checks: received = passed + redacted + denied + dropped — <b id=\"identity\">{}</b>.</p>",
        if p.identity_holds { "holds for every row" } else { "DOES NOT HOLD for some rows (marked)" }
    );
    for dir in ["inbound", "outbound"] {
        let groups: Vec<_> = p.groups.iter().filter(|g| g.direction == dir).collect();
        if groups.is_empty() {
            continue;
        }
        let _ = write!(
            h,
            "<h3>Messages {}</h3><div class=\"scroll\"><table class=\"figures\"><tr><th>Period</th><th>Agencies</th><th>Message</th><th>Received</th>",
            direction_words(dir)
        );
        for o in OUTCOMES {
            let _ = write!(h, "<th>{}</th>", outcome_words(o));
        }
        h.push_str("<th>Identity</th></tr>");
        for g in groups {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} ({})</td><td class=\"n\">{}</td>",
                esc(&g.period),
                list_words(&g.list),
                esc(&g.key_name),
                esc(&g.key),
                cell(g.received)
            );
            for (i, c) in g.outcomes.iter().enumerate() {
                let _ = write!(
                    h,
                    "<td class=\"n fig\" data-csv=\"{},{},{},{},{}\">{}</td>",
                    esc(&g.period),
                    esc(&g.direction),
                    esc(&g.list),
                    esc(&g.key),
                    OUTCOMES[i],
                    cell(*c)
                );
            }
            let _ = write!(
                h,
                "<td>{}</td></tr>",
                if g.identity_holds {
                    "✓"
                } else {
                    "<b>✗</b>"
                }
            );
        }
        h.push_str("</table></div>");
    }
}

/// The back-door watch (internal: who, and per agency; public: how many).
fn watch(h: &mut String, p: &Published) {
    if p.mode == Mode::Internal {
        h.push_str("<h2>Agencies on no list to look at</h2>");
        if p.watch.is_empty() {
            h.push_str("<p>None stand out.</p>");
        } else {
            h.push_str("<table><tr><th>Period</th><th>ORI</th><th>Driver and photo queries</th><th>Its earlier mean</th><th>Share</th><th>Why</th></tr>");
            for w in &p.watch {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.0} %</td><td>{}</td></tr>",
                    esc(&w.period),
                    esc(&w.ori),
                    w.queries,
                    w.baseline,
                    w.share * 100.0,
                    match w.why.as_str() {
                        "rise" => "rose to 3× or more of its own history",
                        "share" => "a quarter or more of all such queries",
                        "federal" => "looks federal (federal watch) but is on no list",
                        _ => "several of: a rise, an unusual share, looks federal",
                    }
                );
            }
            h.push_str("</table>");
        }
        h.push_str("<h2>Per agency</h2><table><tr><th>Period</th><th>ORI</th><th>List</th><th>Outcome</th><th>Messages</th></tr>");
        for a in &p.agencies {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&a.period),
                esc(&a.ori),
                esc(&a.list),
                esc(&a.outcome),
                a.messages
            );
        }
        h.push_str("</table>");
    } else {
        h.push_str("<h2>Agencies on no list that stand out</h2><p>Agencies on no list whose driver-licence or photo queries rose sharply against their own history, made an unusual share of such queries, or whose ORI looks federal (a possible back door):</p><ul>");
        if p.watch_count.is_empty() {
            h.push_str("<li>none in this range</li>");
        }
        for (period, n) in &p.watch_count {
            let _ = write!(
                h,
                "<li>{}: {n} agenc{}</li>",
                esc(period),
                if *n == 1 { "y" } else { "ies" }
            );
        }
        h.push_str("</ul>");
    }
}

/// Court orders used, and their uses by issuer kind.
fn court_orders(h: &mut String, p: &Published) {
    h.push_str("<h2>Court orders used</h2><p>Queries from a restricted agency let through because a court-issued warrant, subpoena or order names the person, and the responses released to them with only the fields the order covers:</p>");
    if p.court_orders.is_empty() {
        h.push_str("<p>No court order was used in this range.</p>");
    } else {
        h.push_str(if p.mode == Mode::Internal {
            "<table><tr><th>Period</th><th>Order</th><th>Queries let through</th><th>Responses released</th></tr>"
        } else {
            "<table><tr><th>Period</th><th>Orders used</th><th>Queries let through</th><th>Responses released</th></tr>"
        });
        for c in &p.court_orders {
            let first = match &c.exception {
                Some(id) => format!("<code>{}</code>", esc(id)),
                None => esc(&c.orders.to_string()),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{first}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&c.period),
                esc(&c.queries.to_string()),
                esc(&c.responses.to_string())
            );
        }
        h.push_str("</table>");
    }
}

/// Court-order uses per family and issuer kind.
fn orders_by_issuer(h: &mut String, p: &Published) {
    if p.court_orders_by_issuer.is_empty() {
        return;
    }
    h.push_str("<h3>Court-order uses by who issued the order</h3><table class=\"cards\"><tr><th>Period</th><th>Agency family</th><th>Issued by</th><th>Queries let through</th><th>Responses released</th></tr>");
    for u in &p.court_orders_by_issuer {
        let _ = write!(
            h,
            "<tr class=\"issuer\" data-issuer=\"{}\"><td data-label=\"Period\">{}</td><td data-label=\"Agency family\">{}</td><td data-label=\"Issued by\">{}</td><td class=\"n\" data-label=\"Queries let through\">{}</td><td class=\"n\" data-label=\"Responses released\">{}</td></tr>",
            esc(&u.issuer),
            esc(&u.period),
            esc(&family_of(p, &u.list)),
            issuer_words(&u.issuer),
            cell(u.queries),
            cell(u.releases)
        );
    }
    h.push_str("</table>");
}

/// The legend of outcomes, lists and keys.
fn how_to_read(h: &mut String) {
    h.push_str("<h2>How to read this report</h2><ul class=\"note\">");
    for o in OUTCOMES {
        let _ = write!(h, "<li><b>{}</b>: {}.</li>", o, outcome_words(o));
    }
    let _ = write!(
        h,
        "<li><b>Lists</b> (agency families) are maintained by CBI administrators: agencies on a deny list get no driver data; on a redact list, responses go out with protected fields (photo, place of birth) withheld.</li><li><b>Message keys</b>: e.g. DQ = {}, DR = {}, RQ = {}, RNQ = {}, CPR = {}.</li></ul>",
        key_name("DQ"),
        key_name("DR"),
        key_name("RQ"),
        key_name("RNQ"),
        key_name("CPR")
    );
}

/// What is counted, suppression, how to verify.
fn methodology(h: &mut String, p: &Published) {
    h.push_str("<h2>Methodology</h2><h3>What is counted</h3><ul class=\"note\"><li>Every message the proxy decided is one decision record in the audit log, and is counted once: by period (UTC), direction, the list that decided it (“no list” when none), message key and outcome. Requests are messages to Colorado; responses are messages from it. Tables and charts say which they count, and never add the two.</li><li>Every message kind counts, not only driver-licence queries.</li><li>Photos withheld: a photo removed from a response, or a photo response withheld whole. Places of birth withheld: removed from a response.</li><li>Court orders: a query from a restricted agency let through because a court order names the person, and the responses released under it, are marked in report.csv (<code>court_order</code> = yes) and report.json.</li><li>Attempts after a block: requests declined, per day.</li></ul><h3>Suppression</h3><ul class=\"note\">");
    if p.mode == Mode::Public {
        h.push_str("<li>Counts from 1 to 9 are shown as “&lt;10”. Inside each group (period, direction, list, key) one more count is withheld when a lone withheld count could be worked out from the group's total; per-day declines likewise within a family and period. Zeros are shown.</li><li>Sums (“In short”, families, charts, period totals) add published counts only: where a withheld count lies behind them they are lower bounds, marked “at least” or “≥”.</li>");
        let rules: Vec<String> = p
            .small_cells
            .iter()
            .map(|(t, n)| match n {
                0 => format!("{t}: exact"),
                n => format!("{t}: counts under {n} withheld"),
            })
            .collect();
        let _ = write!(
            h,
            "<li>Threshold per table (<code>report --small-cell TABLE=N</code>; only court-order counts, which count orders and their uses rather than people, may be published exactly): {}.</li>",
            esc(&rules.join("; "))
        );
    } else {
        h.push_str("<li>Internal report: every count exact; agency identifiers shown. Do not publish.</li>");
    }
    h.push_str("</ul><h3>How to verify</h3><ul class=\"note\"><li>Integrity: every record of the audit log is hash-chained; the section “Integrity” gives each log's head (last record's hash) and its last checkpoint. With the log, <code>origuard audit verify FILE --expect-head HEAD</code> or <code>--checkpoint SAVED --public-key KEY</code> proves the figures come from an unaltered log.</li><li>Without the log: each checkpoint is signed (Ed25519) by the log's key; a report made with <code>--previous</code> carries a consistency proof from the previous report's checkpoint, which <code>python3 scripts/verify-consistency.py consistency PREVIOUS/report.json report.json --public-key KEY</code> checks from the two published files only.</li><li>Figures: report.csv and report.json carry every published count; each table row checks received = passed + redacted + denied + dropped. The method is specified in specs/report.md.</li></ul>");
}

/// Post-layout check for the browser test (the page does not need it).
fn render_check(h: &mut String) {
    // Post-layout check for the browser test (the page does not need it).
    // Besides bars and figures it reports what a narrow screen could hide:
    // chart text outside its drawing (clipped), table numbers wider than
    // their cell, and the page wider than the window.
    h.push_str(r#"<pre id="render-check" hidden></pre><script>(function(){var bars=document.querySelectorAll('svg.chart rect.bar');var drawn=0;bars.forEach(function(b){var r=b.getBoundingClientRect();if(r.height>0&&r.width>0)drawn++;});var figs={};document.querySelectorAll('td.fig').forEach(function(td){figs[td.dataset.csv]=td.textContent;});var clipped=[];var texts=0;document.querySelectorAll('svg.chart').forEach(function(svg){var vb=svg.viewBox.baseVal;svg.querySelectorAll('text').forEach(function(t){texts++;var b=t.getBBox();if(b.x<-0.5||b.y<-0.5||b.x+b.width>vb.width+0.5||b.y+b.height>vb.height+0.5)clipped.push(t.textContent);});});var cut=[];document.querySelectorAll('td.n').forEach(function(td){if(td.scrollWidth>td.clientWidth+1)cut.push(td.textContent);});document.querySelectorAll('table.cards td').forEach(function(td){var r=td.getBoundingClientRect();if(r.right>window.innerWidth+1||td.scrollWidth>td.clientWidth+1)cut.push(td.textContent);});document.getElementById('render-check').textContent=JSON.stringify({bars:bars.length,drawn:drawn,figures:figs,width:window.innerWidth,page_width:document.documentElement.scrollWidth,chart_texts:texts,clipped:clipped,cut:cut,sections:Array.prototype.map.call(document.querySelectorAll('h2'),function(x){return x.textContent;})});})();</script>"#);
}
