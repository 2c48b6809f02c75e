//! Report tests: counts equal the log's, suppression cannot be undone by
//! subtraction, tampering and gaps are reported, delivery comes from
//! `written` records, and a public report names no agency.

use super::*;
use crate::audit::line::encode;
use crate::audit::record::{anchor_hash, DecisionRecord, Event, SegmentHeader};
use proptest::prelude::*;

fn dec(
    direction: &'static str,
    mke: &str,
    category: &'static str,
    list: Option<&str>,
    ori: &str,
    removed: &[&str],
) -> Event {
    Event::Decision(Box::new(DecisionRecord {
        link: Some("l".into()),
        direction,
        format: Some("legacy"),
        mke: Some(mke.into()),
        class: None,
        originating_ori: Some(ori.into()),
        destination_ori: vec![],
        counterparty_ori: Some(ori.into()),
        control: None,
        action: None,
        category,
        reason: "r",
        detail: None,
        list: list.map(str::to_string),
        entry: None,
        fields_removed: removed.iter().map(|s| s.to_string()).collect(),
        bytes_in: 1,
        bytes_out: 1,
        reply_bytes: 0,
        policy: "p".repeat(64),
        exception: None,
        exception_use: None,
        exception_approvers: None,
        exception_issuer: None,
        order_subject: None,
        order_records: None,
        reason_code: None,
        federal_watch: None,
    }))
}

/// A log: log_start then the events, each at its timestamp.
fn log(events: &[(&str, Event)]) -> Vec<u8> {
    let mut out = Vec::new();
    let id = "0123456789abcdef0123456789abcdef";
    let mut head = encode(
        0,
        "2026-01-01T00:00:00.000Z",
        &Event::LogStart {
            log_id: id.into(),
            software: "t".into(),
        },
        &anchor_hash(id),
        &mut out,
    );
    for (i, (ts, e)) in events.iter().enumerate() {
        head = encode(i as u64 + 1, ts, e, &head, &mut out);
    }
    out
}

fn input(data: Vec<u8>) -> Input {
    Input {
        path: "a.jsonl".into(),
        data,
    }
}

fn opts(mode: Mode, period: Period) -> Options {
    Options {
        mode,
        period,
        from: None,
        to: None,
        families: Vec::new(),
        small_cells: Default::default(),
        previous: Vec::new(),
    }
}

fn sample() -> Vec<(&'static str, Event)> {
    let mut ev = Vec::new();
    for i in 0..40 {
        let ts = if i < 25 {
            "2026-11-03T10:00:00.000Z"
        } else {
            "2026-12-02T10:00:00.000Z"
        };
        ev.push((
            ts,
            dec(
                "inbound",
                "DQ",
                "denied",
                Some("immigration_enforcement"),
                "VTICE0900",
                &[],
            ),
        ));
    }
    for _ in 0..12 {
        ev.push((
            "2026-12-02T11:00:00.000Z",
            dec(
                "outbound",
                "DR",
                "redacted",
                Some("federal_redact"),
                "VADEADX00",
                &["photo", "pob"],
            ),
        ));
    }
    for _ in 0..3 {
        ev.push((
            "2026-12-02T11:00:00.000Z",
            dec(
                "outbound",
                "CPR",
                "dropped",
                Some("federal_redact"),
                "VADEADX00",
                &[],
            ),
        ));
    }
    for _ in 0..30 {
        ev.push((
            "2026-12-02T12:00:00.000Z",
            dec("inbound", "DQ", "passed", None, "NMSP00000", &[]),
        ));
    }
    ev
}

#[test]
fn counts_equal_the_log() {
    let r = build(
        &[input(log(&sample()))],
        &opts(Mode::Internal, Period::Month),
    );
    assert!(r.intact);
    assert_eq!(r.decisions, 85);
    let get = |p: &str, k: &str, o: &str| {
        r.rows
            .iter()
            .find(|x| x.period == p && x.key == k && x.outcome == o)
            .map(|x| (x.messages, x.photos_withheld, x.pob_withheld))
    };
    assert_eq!(get("2026-11", "DQ", "denied"), Some((25, 0, 0)));
    assert_eq!(get("2026-12", "DQ", "denied"), Some((15, 0, 0)));
    assert_eq!(get("2026-12", "DR", "redacted"), Some((12, 12, 12)));
    // A photo response withheld whole is a photo withheld.
    assert_eq!(get("2026-12", "CPR", "dropped"), Some((3, 3, 0)));
    assert_eq!(r.rows.iter().map(|x| x.messages).sum::<u64>(), 85);
    let p = publish(&r, Mode::Internal, "now");
    assert!(p.identity_holds);
    let dec = &p.periods[1].driver_queries_by_list["immigration_enforcement"];
    assert_eq!(dec[2], 15, "declined driver queries this month");
    // The CSV has the header the issue fixes and one row per combination.
    let csv = publish::csv(&p);
    assert!(csv.starts_with(
        "period,direction,list,key,outcome,messages,photos_withheld,pob_withheld,court_order\n"
    ));
    assert!(
        csv.contains("2026-12,outbound,federal_redact,DR,redacted,12,12,12,no\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + r.rows.len());
}

#[test]
fn periods_and_ranges() {
    assert_eq!(Period::Quarter.of("2026-11-03T10:00:00.000Z"), "2026-Q4");
    assert_eq!(Period::Quarter.of("2026-01-03T10:00:00.000Z"), "2026-Q1");
    assert_eq!(Period::Year.of("2026-11-03T10:00:00.000Z"), "2026");
    assert_eq!(Period::Day.of("2026-11-03T10:00:00.000Z"), "2026-11-03");
    let mut o = opts(Mode::Internal, Period::Day);
    o.from = Some("2026-12-01".into());
    let r = build(&[input(log(&sample()))], &o);
    assert_eq!(r.decisions, 60);
}

#[test]
fn a_public_report_suppresses_small_cells_and_names_no_agency() {
    let r = build(&[input(log(&sample()))], &opts(Mode::Public, Period::Month));
    let p = publish(&r, Mode::Public, "now");
    let json = serde_json::to_string(&p).unwrap();
    let page = html::render(&p);
    for ori in ["VTICE0900", "VADEADX00", "NMSP00000"] {
        assert!(
            !json.contains(ori) && !page.contains(ori),
            "{ori} in a public report"
        );
        assert!(!publish::csv(&p).contains(ori));
    }
    // CPR dropped 3: suppressed; and the lone suppressed cell in its group
    // (received 3) is the total itself.
    let g = p.groups.iter().find(|g| g.key == "CPR").unwrap();
    assert_eq!(
        (g.received, g.outcomes[3]),
        (Cell::Suppressed, Cell::Suppressed)
    );
    let internal = publish(&r, Mode::Internal, "now");
    assert!(serde_json::to_string(&internal)
        .unwrap()
        .contains("VTICE0900"));
}

fn published_group(counts: [u64; 4]) -> publish::Group {
    let mut ev = Vec::new();
    for (i, n) in counts.iter().enumerate() {
        for _ in 0..*n {
            ev.push((
                "2026-12-02T10:00:00.000Z",
                dec("inbound", "DQ", OUTCOMES[i], Some("l"), "X", &[]),
            ));
        }
    }
    let r = build(&[input(log(&ev))], &opts(Mode::Public, Period::Month));
    publish(&r, Mode::Public, "now").groups.remove(0)
}

#[test]
fn secondary_suppression_in_a_group() {
    // denied 3 is suppressed; with the total 53 shown, passed must go too.
    let g = published_group([50, 0, 3, 0]);
    assert_eq!(g.received, Cell::Exact(53));
    assert_eq!(
        g.outcomes,
        [
            Cell::Suppressed,
            Cell::Exact(0),
            Cell::Suppressed,
            Cell::Exact(0)
        ]
    );
    // The smallest other non-zero cell is the one taken.
    let g = published_group([100, 0, 20, 4]);
    assert_eq!(
        g.outcomes,
        [
            Cell::Exact(100),
            Cell::Exact(0),
            Cell::Suppressed,
            Cell::Suppressed
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_small_count_can_be_read_or_worked_out(counts in proptest::array::uniform4(0u64..30)) {
        prop_assume!(counts.iter().sum::<u64>() > 0);
        let g = published_group(counts);
        let cells: Vec<Cell> = std::iter::once(g.received).chain(g.outcomes).collect();
        for c in &cells {
            if let Cell::Exact(n) = c {
                prop_assert!(*n == 0 || *n >= 10, "{g:?}");
            }
        }
        // With the total published, one hidden outcome would be the total
        // minus the others: never exactly one.
        let hidden = g.outcomes.iter().filter(|c| **c == Cell::Suppressed).count();
        if g.received != Cell::Suppressed {
            prop_assert_ne!(hidden, 1, "{:?}", g);
        }
        // Published cells are the true counts.
        for (i, c) in g.outcomes.iter().enumerate() {
            if let Cell::Exact(n) = c {
                prop_assert_eq!(*n, counts[i]);
            }
        }
    }
}

#[test]
// Long: one log, tampered and cut in turn, each result checked.
fn tampering_and_gaps_are_reported() {
    let mut data = log(&sample());
    let at = memchr::memmem::find(&data, b"NMSP00000").unwrap();
    data[at] = b'X';
    let r = build(&[input(data)], &opts(Mode::Public, Period::Month));
    assert!(!r.intact);
    assert!(
        r.notices.iter().any(|n| n.kind == "broken"),
        "{:?}",
        r.notices
    );
    let p = publish(&r, Mode::Public, "now");
    let page = html::render(&p);
    assert!(page.contains(r#"data-intact="false""#) && page.contains("does NOT verify"));
    // Two files of one log with a file missing between them.
    let whole = log(&sample());
    let lines: Vec<&[u8]> = whole.split_inclusive(|&b| b == b'\n').collect();
    let v = crate::audit::verify::verify(&lines[..20].concat()).unwrap();
    let v2 = crate::audit::verify::verify(&lines[..30].concat()).unwrap();
    let seg = |from: usize, v: &crate::audit::verify::Verified| {
        let mut d = SegmentHeader {
            kind: "segment".into(),
            log_id: v.log_id.clone(),
            next_seq: from as u64,
            prev: v.head.clone(),
            reason: "rotated".into(),
            ts: "2026-12-02T10:00:00.000Z".into(),
            frontier: None,
        }
        .line();
        d.extend(lines[from..].concat());
        d
    };
    let first = Input {
        path: "a.1".into(),
        data: lines[..20].concat(),
    };
    let third = Input {
        path: "a.3".into(),
        data: seg(30, &v2),
    };
    let r = build(&[third, first], &opts(Mode::Public, Period::Month));
    assert!(!r.intact);
    assert!(
        r.notices
            .iter()
            .any(|n| n.kind == "gap" && n.text.contains("20..29")),
        "{:?}",
        r.notices
    );
    // With the middle file the chain is whole.
    let middle = {
        let mut d = SegmentHeader {
            kind: "segment".into(),
            log_id: v.log_id.clone(),
            next_seq: 20,
            prev: v.head.clone(),
            reason: "rotated".into(),
            ts: "2026-12-02T10:00:00.000Z".into(),
            frontier: None,
        }
        .line();
        d.extend(lines[20..30].concat());
        d
    };
    let r = build(
        &[
            Input {
                path: "a.1".into(),
                data: lines[..20].concat(),
            },
            Input {
                path: "a.2".into(),
                data: middle,
            },
            Input {
                path: "a.3".into(),
                data: seg(30, &v2),
            },
        ],
        &opts(Mode::Public, Period::Month),
    );
    assert!(r.intact, "{:?}", r.notices);
    assert_eq!(r.decisions, 85);
}

#[test]
fn delivery_comes_from_written_records() {
    let mut ev = sample();
    // Decisions are seqs 1..=85; the 30 passed queries are 56..=85.
    ev.push((
        "2026-12-02T12:00:01.000Z",
        Event::Written {
            link: "l".into(),
            side: "switch",
            seqs: (56..=75).collect(),
        },
    ));
    let r = build(&[input(log(&ev))], &opts(Mode::Internal, Period::Month));
    let row = r.rows.iter().find(|x| x.outcome == "passed").unwrap();
    assert_eq!((row.messages, row.delivered), (30, 20));
}

#[test]
fn decisions_waiting_for_written_records_are_bounded_and_taken_once() {
    let mut a = Awaiting::default();
    for s in 0..10u64 {
        a.insert(s, s as u32);
    }
    assert_eq!(a.take(3), Some(3));
    assert_eq!(a.take(3), None, "taken once");
    assert_eq!(a.take(0), Some(0));
    assert_eq!(
        a.q.front().map(|f| f.0),
        Some(1),
        "answered ones leave the front"
    );
    assert_eq!(a.take(42), None);
    // Past the cap the oldest are dropped (counted as not delivered).
    let mut a = Awaiting::default();
    for s in 0..(AWAIT_CAP as u64 + 10) {
        a.insert(s, 1);
    }
    assert_eq!(a.q.len(), AWAIT_CAP);
    assert_eq!(a.take(5), None);
    assert_eq!(a.take(AWAIT_CAP as u64 + 9), Some(1));
}

#[test]
// Long: one log of court-order uses read through every table that shows them.
fn court_orders_used_and_federal_looking_agencies_are_reported() {
    let with = |mut e: Event, f: &dyn Fn(&mut DecisionRecord)| {
        if let Event::Decision(d) = &mut e {
            f(d);
        }
        e
    };
    let ts = "2026-12-02T10:00:00.000Z";
    let mut ev = Vec::new();
    for _ in 0..2 {
        ev.push((
            ts,
            with(
                dec(
                    "inbound",
                    "DQ",
                    "passed",
                    Some("immigration_enforcement"),
                    "VTICE0900",
                    &[],
                ),
                &|d| {
                    d.reason = "court_order";
                    d.exception = Some("2026-CR-0042".into());
                    d.exception_use = Some(1);
                    d.exception_issuer = Some("federal_judge");
                },
            ),
        ));
    }
    ev.push((
        ts,
        with(
            dec(
                "outbound",
                "DR",
                "redacted",
                Some("immigration_enforcement"),
                "VTICE0900",
                &["pob"],
            ),
            &|d| {
                d.reason = "court_order_release";
                d.exception = Some("2026-CR-0042".into());
                d.exception_issuer = Some("state_judge");
            },
        ),
    ));
    ev.push((
        ts,
        with(
            dec("inbound", "DQ", "passed", None, "NYHSI0300", &[]),
            &|d| {
                d.federal_watch = Some("??HSI????".into());
            },
        ),
    ));
    // A reason this version does not know (the court-order code may add
    // some): counted by its category, never as a court-order use.
    ev.push((
        ts,
        with(
            dec(
                "inbound",
                "DQ",
                "denied",
                Some("immigration_enforcement"),
                "VTICE0900",
                &[],
            ),
            &|d| {
                d.reason = "subject_mismatch";
                d.exception = Some("2026-CR-0042".into());
            },
        ),
    ));
    let data = log(&ev);
    let mut o = opts(Mode::Internal, Period::Month);
    o.families = vec![
        super::Family {
            name: "immigration_enforcement".into(),
            description: "Civil immigration enforcement".into(),
            action: "deny".into(),
        },
        super::Family {
            name: "cbp".into(),
            description: "Customs and Border Protection".into(),
            action: "deny".into(),
        },
    ];
    let r = build(&[input(data.clone())], &o);
    let p = publish(&r, Mode::Internal, "now");
    // Per family: the uses of court orders, the declined request, and a
    // family with no traffic shown with zeros.
    let fam = |n: &str| p.by_family.iter().find(|f| f.family == n).unwrap().clone();
    let ice = fam("immigration_enforcement");
    assert_eq!(
        (
            ice.received.value,
            ice.declined.value,
            ice.court_order_queries.value,
            ice.court_order_releases.value,
            ice.days_with_declines
        ),
        (3, 1, 2, 1, 1)
    );
    let cbp = fam("cbp");
    assert_eq!((cbp.received, cbp.declined), Default::default());
    // The Colorado summary: releases by issuer kind, every kind shown; a
    // release under a state judge's order is flagged (SB25-276 asks for a
    // federal judge or magistrate).
    let co = p
        .colorado
        .iter()
        .find(|c| c.family == "immigration_enforcement")
        .unwrap();
    let kinds: Vec<(&str, u64)> = co
        .released_under_court_order
        .iter()
        .map(|(k, v)| (k.as_str(), v.value))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("federal_judge", 0),
            ("magistrate_judge", 0),
            ("state_judge", 1)
        ]
    );
    assert_eq!(co.released_without_federal_judge.value, 1);
    assert!(p.colorado.iter().any(|c| c.family == "cbp"));
    assert!(!p.colorado.iter().any(|c| c.family == "none"));
    let co_csv = publish::csv_colorado(&p);
    assert!(
        co_csv.contains("\n2026-12,immigration_enforcement,3,1,1,0,0,1,1\n"),
        "{co_csv}"
    );
    assert_eq!(
        publish::csv_by_month_and_key(&p),
        "month,list,key,received,declined\n2026-12,immigration_enforcement,DQ,3,1\n"
    );
    // Washington's layout: requests per month and key, per family.
    let wa: Vec<_> = p
        .by_month_and_key
        .iter()
        .map(|m| {
            (
                m.month.as_str(),
                m.list.as_str(),
                m.key.as_str(),
                m.received,
                m.declined,
            )
        })
        .collect();
    assert_eq!(
        wa,
        vec![(
            "2026-12",
            "immigration_enforcement",
            "DQ",
            publish::Cell::Exact(3),
            publish::Cell::Exact(1)
        )]
    );
    assert_eq!(cbp.description, "Customs and Border Protection");
    assert!(p.by_family.iter().any(|f| f.family == "none"));
    // The CSV and the JSON mark what passed under an order.
    let csv = publish::csv(&p);
    assert!(
        csv.contains("2026-12,inbound,immigration_enforcement,DQ,passed,2,0,0,yes\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-12,inbound,immigration_enforcement,DQ,denied,1,0,0,no\n"),
        "{csv}"
    );
    assert!(p
        .rows
        .iter()
        .any(|r| r.court_order && r.direction == "outbound"));
    let html = html::render(&p);
    assert!(!html.contains("none are recorded by this version"));
    assert!(html.contains("Customs and Border Protection"));
    assert_eq!(
        r.court_orders,
        vec![CourtOrderUse {
            period: "2026-12".into(),
            exception: "2026-CR-0042".into(),
            queries: 2,
            responses: 1,
        }]
    );
    assert!(
        r.watch
            .iter()
            .any(|w| w.ori == "NYHSI0300" && w.why == "federal"),
        "{:?}",
        r.watch
    );
    let internal = publish(&r, Mode::Internal, "now");
    let html = html::render(&internal);
    assert!(
        html.contains("2026-CR-0042") && html.contains("NYHSI0300"),
        "internal names them"
    );
    // Public: counts only, under the small-cell rule; no id, no ORI.
    let r = build(&[input(data)], &opts(Mode::Public, Period::Month));
    let p = publish(&r, Mode::Public, "now");
    assert_eq!(p.court_orders.len(), 1);
    assert_eq!(p.court_orders[0].exception, None);
    assert_eq!(p.court_orders[0].queries, publish::Cell::Suppressed);
    // Court-order counts published exactly when asked (`--exact
    // court_orders`); still no id.
    let mut small = publish::SmallCells::default();
    small.set_table("court_orders", 0).unwrap();
    let exact = publish::publish_with(&r, Mode::Public, "now", &small);
    assert_eq!(exact.court_orders[0].queries, publish::Cell::Exact(2));
    assert_eq!(
        exact
            .court_orders_by_issuer
            .iter()
            .map(|u| (u.list.as_str(), u.issuer.as_str(), u.queries, u.releases))
            .collect::<Vec<_>>(),
        vec![
            (
                "immigration_enforcement",
                "federal_judge",
                publish::Cell::Exact(2),
                publish::Cell::Exact(0)
            ),
            (
                "immigration_enforcement",
                "state_judge",
                publish::Cell::Exact(0),
                publish::Cell::Exact(1)
            ),
        ]
    );
    // Under the default rule the two small counts of a period are withheld.
    assert!(p
        .court_orders_by_issuer
        .iter()
        .all(|u| u.queries.value().unwrap_or(0) == 0 && u.releases.value().unwrap_or(0) == 0));
    assert_eq!(exact.court_orders[0].exception, None);
    assert_eq!(p.watch_count.get("2026-12"), Some(&1));
    let json = serde_json::to_string(&p).unwrap();
    let html = html::render(&p);
    for secret in ["2026-CR-0042", "NYHSI0300", "VTICE0900"] {
        assert!(
            !json.contains(secret) && !html.contains(secret),
            "{secret} in the public report"
        );
    }
    assert!(html.contains("Court orders used"));
}

/// A policy change that lists an agency which was asking before: the time
/// from the change to its first declined request, per list; an agency
/// declined before the change, or first seen after it, is not counted.
#[test]
fn time_to_block_from_a_change_to_the_first_declined_request() {
    let load = |v: &str, trigger: &str| Event::policy_load(true, v, "p.toml", trigger, 0);
    let v1 = "a".repeat(64);
    let v2 = "b".repeat(64);
    let ev = vec![
        ("2026-12-02T10:00:00.000Z", load(&v1, "startup")),
        (
            "2026-12-02T10:01:00.000Z",
            dec("inbound", "DQ", "passed", None, "TXHSI0100", &[]),
        ),
        (
            "2026-12-02T10:01:30.000Z",
            dec(
                "inbound",
                "DQ",
                "denied",
                Some("immigration_enforcement"),
                "VTICE0900",
                &[],
            ),
        ),
        ("2026-12-02T10:02:00.000Z", load(&v2, "sighup")),
        (
            "2026-12-02T10:02:12.500Z",
            dec(
                "inbound",
                "DQ",
                "denied",
                Some("immigration_enforcement"),
                "VTICE0900",
                &[],
            ),
        ),
        (
            "2026-12-02T10:02:20.000Z",
            dec("inbound", "DQ", "denied", Some("hsi"), "DCHSI0000", &[]),
        ),
        (
            "2026-12-02T10:02:42.250Z",
            dec("inbound", "RQ", "denied", Some("hsi"), "TXHSI0100", &[]),
        ),
    ];
    let r = build(&[input(log(&ev))], &opts(Mode::Internal, Period::Month));
    assert_eq!(r.time_to_block.len(), 1, "{:?}", r.time_to_block);
    let b = &r.time_to_block[0];
    assert_eq!((b.list.as_str(), b.ori.as_str()), ("hsi", "TXHSI0100"));
    assert!((b.seconds - 42.25).abs() < 1e-6, "{b:?}");
    assert_eq!(b.version, "bbbbbbbbbbbb");
    let p = publish(&r, Mode::Public, "now");
    assert_eq!(p.time_to_block[0].ori, "");
    assert!(html::render(&p).contains("42.2 s") || html::render(&p).contains("42.3 s"));
    assert!(!serde_json::to_string(&p).unwrap().contains("TXHSI0100"));
}

/// A low-volume public report: every cell under 10 is withheld, and the
/// charts say so instead of "No messages in this range"; every family of
/// the policy still has its row, with zeros.
#[test]
fn a_low_volume_public_report_says_why_its_charts_are_empty() {
    let ev: Vec<_> = (0..5)
        .map(|_| {
            (
                "2026-12-02T10:00:00.000Z",
                dec("inbound", "RNQ", "denied", Some("cbp"), "DCCBP0000", &[]),
            )
        })
        .collect();
    let mut o = opts(Mode::Public, Period::Month);
    o.families = vec![super::Family {
        name: "uscis".into(),
        description: "Citizenship and Immigration Services".into(),
        action: "deny".into(),
    }];
    let r = build(&[input(log(&ev))], &o);
    let p = publish(&r, Mode::Public, "now");
    let html = html::render(&p);
    assert!(
        html.contains("the 5 decisions counted fall in cells under 10"),
        "{html}"
    );
    assert!(!html.contains("No messages in this range"));
    // Nothing went out: the responses chart says that, not "withheld".
    assert!(html.contains("No messages of this kind in this range."));
    let fam = |n: &str| p.by_family.iter().find(|f| f.family == n).unwrap().clone();
    assert_eq!(fam("uscis").received, publish::Fig::default());
    let cbp = fam("cbp");
    assert!(cbp.received.at_least && cbp.declined.at_least, "{cbp:?}");
    assert!(!serde_json::to_string(&p).unwrap().contains("DCCBP0000"));
}

#[test]
fn signed_changes_name_their_authors_internally_and_are_counted_publicly() {
    let mut ev = sample();
    ev.push((
        "2026-12-02T13:00:00.000Z",
        Event::PolicySigned {
            policy: "ab".repeat(32),
            manifest: "cd".repeat(32),
            version: 3,
            author: "alice@co (SHA256:x)".into(),
            reason: "CHG-7 add field office".into(),
            time: "2026-12-02T12:59:00Z".into(),
            previous: "ef".repeat(32),
        },
    ));
    ev.push((
        "2026-12-02T13:00:00.000Z",
        Event::OrderEntered {
            order: "2026-CV-0117".into(),
            file: "orders/2026-CV-0117.toml".into(),
            sha256: "01".repeat(32),
            entered_by: "clerk@co".into(),
            approvers: vec!["alice@co (SHA256:x)".into(), "bob@co (SHA256:y)".into()],
            policy: "ab".repeat(32),
        },
    ));
    ev.push((
        "2026-12-02T14:00:00.000Z",
        Event::OrderRefused {
            file: "orders/2026-CV-0118.toml".into(),
            reason: "order not in force: 1 of 2 approvals".into(),
            trigger: "file_watch".into(),
        },
    ));
    ev.push((
        "2026-12-02T15:00:00.000Z",
        Event::AdminCall {
            identity: "carol@co".into(),
            action: "reload".into(),
            outcome: "applied".into(),
        },
    ));
    let r = build(&[input(log(&ev))], &opts(Mode::Internal, Period::Month));
    assert!(r.intact, "{:?}", r.notices);
    let internal = serde_json::to_string(&publish(&r, Mode::Internal, "now")).unwrap();
    for want in [
        "signed policy bundle version 3 by alice@co (SHA256:x): CHG-7 add field office",
        "court order 2026-CV-0117 in force: entered by clerk@co, approved by alice@co (SHA256:x), bob@co (SHA256:y)",
        "orders/2026-CV-0118.toml (file_watch): order not in force: 1 of 2 approvals",
        "carol@co asked to reload on the admin endpoint: applied",
    ] {
        assert!(internal.contains(want), "{want}: {internal}");
    }
    let public = publish(&r, Mode::Public, "now");
    let json = serde_json::to_string(&public).unwrap();
    for name in [
        "alice@co",
        "clerk@co",
        "carol@co",
        "2026-CV-0117",
        "2026-CV-0118",
    ] {
        assert!(!json.contains(name), "{name} in a public report");
    }
    for want in [
        "1 signed court order(s) came into force",
        "1 court order(s) refused at a load",
        "1 signed policy bundle(s) applied",
        "1 state-changing admin request(s) by named administrators",
    ] {
        assert!(json.contains(want), "{want}: {json}");
    }
}

/// Requests declined per day and family (attempts after a block): one row
/// per day and family, exact internally; publicly each day under the
/// `declined_by_day` rule, and a lone withheld day of a family's period
/// hides the smallest other non-zero day of it too (the period's total is
/// published beside it). Responses and requests let through are not
/// counted.
#[test]
fn declined_by_day_rows_and_their_suppression() {
    let mut ev = Vec::new();
    let mut add = |ts: &'static str, n: usize, list: &str, ori: &str, category: &'static str| {
        for _ in 0..n {
            ev.push((ts, dec("inbound", "DQ", category, Some(list), ori, &[])));
        }
    };
    let ice = "immigration_enforcement";
    add("2026-12-01T10:00:00.000Z", 25, ice, "VTICE0900", "denied");
    add("2026-12-02T10:00:00.000Z", 15, ice, "VTICE0900", "denied");
    add("2026-12-03T10:00:00.000Z", 3, ice, "VTICE0900", "denied");
    add("2026-12-03T11:00:00.000Z", 12, "cbp", "DCCBP0000", "denied");
    add("2026-12-04T11:00:00.000Z", 7, "cbp", "DCCBP0000", "passed");
    ev.push((
        "2026-12-04T11:00:00.000Z",
        dec("outbound", "DR", "denied", Some("cbp"), "DCCBP0000", &[]),
    ));
    let data = log(&ev);
    let r = build(&[input(data.clone())], &opts(Mode::Internal, Period::Month));
    let exact = publish(&r, Mode::Internal, "now");
    let rows = |p: &publish::Published| -> Vec<(String, String, String, Cell)> {
        p.declined_by_day
            .iter()
            .map(|d| (d.period.clone(), d.day.clone(), d.list.clone(), d.declined))
            .collect()
    };
    let row = |day: &str, list: &str, c: Cell| {
        ("2026-12".to_string(), day.to_string(), list.to_string(), c)
    };
    assert_eq!(
        rows(&exact),
        vec![
            row("2026-12-01", ice, Cell::Exact(25)),
            row("2026-12-02", ice, Cell::Exact(15)),
            row("2026-12-03", "cbp", Cell::Exact(12)),
            row("2026-12-03", ice, Cell::Exact(3)),
        ]
    );
    let days = |p: &publish::Published, f: &str| {
        p.by_family
            .iter()
            .find(|x| x.family == f)
            .unwrap()
            .days_with_declines
    };
    assert_eq!((days(&exact, ice), days(&exact, "cbp")), (3, 1));
    // Public: 3 is withheld, and so is 15, the smallest other day of the
    // family's month, so that the month's 43 cannot give the 3 away; the
    // other family's lone day is its own group.
    let r = build(&[input(data.clone())], &opts(Mode::Public, Period::Month));
    let public = publish(&r, Mode::Public, "now");
    assert_eq!(
        rows(&public),
        vec![
            row("2026-12-01", ice, Cell::Exact(25)),
            row("2026-12-02", ice, Cell::Suppressed),
            row("2026-12-03", "cbp", Cell::Exact(12)),
            row("2026-12-03", ice, Cell::Suppressed),
        ]
    );
    let page = html::render(&public);
    let day_row = |day: &str| {
        let at = page.find(&format!("<tr><td>{day}</td>")).unwrap();
        page[at..at + page[at..].find("</tr>").unwrap()].to_string()
    };
    assert!(day_row("2026-12-01").ends_with(">25</td>"));
    assert!(day_row("2026-12-02").contains("&lt;10"));
    // The table's own threshold: 3 is withheld as `<4`, and 15 with it.
    let mut small = small_cells::SmallCells::default();
    small.set("declined_by_day=4").unwrap();
    let public4 = publish::publish_with(&r, Mode::Public, "now", &small);
    let cells: Vec<Cell> = rows(&public4).into_iter().map(|x| x.3).collect();
    assert_eq!(
        cells,
        vec![
            Cell::Exact(25),
            Cell::Below(4),
            Cell::Exact(12),
            Cell::Below(4)
        ]
    );
}
