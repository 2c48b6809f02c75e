//! Policy tests: entry forms, resolution order, validation diagnostics with
//! line numbers, versions, the store, and a property test of the compiled
//! lookup against a brute-force reference.

use super::file::{load, Severity};
use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

fn load_mem(files: &[(&str, &str)]) -> Result<Policy, file::Refused> {
    let map: HashMap<String, Vec<u8>> = files
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    load(files[0].0, &mut |p: &str| {
        map.get(p)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    })
}

const HEAD: &str = "[deny]\nreply_ori = \"COOLN0000\"\n";

fn pol(lists: &str) -> Policy {
    load_mem(&[("p.toml", &format!("{HEAD}{lists}"))]).unwrap_or_else(|e| panic!("{e}"))
}

fn list(name: &str, action: &str, entries: &[&str]) -> String {
    let e: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "[[list]]\nname = {name:?}\naction = {action:?}\nentries = [{}]\n",
        e.join(", ")
    )
}

#[test]
fn resolution_order() {
    let p = pol(&[
        list("exact_allow", "allow", &["VTICE0900"]),
        list("member_deny", "deny", &["VT"]),
        list("pattern_redact", "redact", &["??ICE????"]),
        list("long_prefix_allow", "allow", &["TXICE????"]),
    ]
    .concat());
    // Exact beats member beats pattern.
    assert_eq!(p.lookup(b"VTICE0900").action, Action::Allow);
    assert_eq!(p.lookup(b"VTICE0901").action, Action::Deny);
    assert_eq!(p.lookup(b"CAICE0000").action, Action::Redact);
    // Among patterns the longer literal prefix wins, even if less strict.
    assert_eq!(p.lookup(b"TXICE0000").action, Action::Allow);
    assert_eq!(p.list_name(p.lookup(b"TXICE0000")), "long_prefix_allow");
    // No match: default.
    let v = p.lookup(b"AZNLETS20");
    assert_eq!((v.action, v.entry), (Action::Pass, None));
    // Member codes match a 2-character destination too.
    assert_eq!(p.lookup(b"VT").action, Action::Deny);
}

#[test]
fn ties_go_to_the_stricter_action() {
    let p = pol(&[
        list("a", "allow", &["VTICE0900", "AX", "??ICE????"]),
        list("r", "redact", &["VTICE0900", "AX", "??ICE????"]),
        list("d", "deny", &["VTICE0900", "AX"]),
    ]
    .concat());
    assert_eq!(p.lookup(b"VTICE0900").action, Action::Deny);
    assert_eq!(p.lookup(b"AXADMHELP").action, Action::Deny);
    assert_eq!(p.lookup(b"CAICE0000").action, Action::Redact);
    // The loser is reported by `matches`, best first.
    let m = p.matches(b"VTICE0900");
    assert_eq!(m.len(), 5);
    assert_eq!(p.lists[p.entries[m[0] as usize].list as usize].name, "d");
    // Warnings about the overlaps.
    assert!(p.warnings.iter().any(|w| w.message.contains("deny wins")));
}

#[test]
fn scope_and_defaults() {
    let p = pol(&list("d", "deny", &["VTICE0900"]));
    let v = p.lookup(b"VTICE0900");
    // Deny is total: every key, unknown keys included.
    for k in ["DQ", "AM", "YR", "ZZ"] {
        assert_eq!(p.scoped(v, k), Action::Deny, "{k}");
    }
    let p = load_mem(&[(
        "p.toml",
        &format!(
            "[deny]\nreply_ori = \"COOLN0000\"\nexempt = [\"AM\"]\n{}{}",
            list("d", "deny", &["VTICE0900"]),
            list("r", "redact", &["VADEADX00"])
        ),
    )])
    .unwrap();
    assert_eq!(p.scoped(p.lookup(b"VTICE0900"), "AM"), Action::Pass);
    assert_eq!(p.scoped(p.lookup(b"VTICE0900"), "DQ"), Action::Deny);
    assert_eq!(p.scoped(p.lookup(b"VADEADX00"), "DQ"), Action::Redact);
    assert_eq!(p.scoped(p.lookup(b"VADEADX00"), "ZZ"), Action::Redact);
    assert_eq!(p.on_parse_error, OnError::Drop);
    assert_eq!(p.on_unknown_ori, OnError::Drop);
    assert_eq!(p.default, Action::Pass);
    assert_eq!(p.deny_inbound_query, DenyMode::Reply);
    assert!(
        !p.decline_text.contains("NOT ON FILE") || p.decline_text.contains("NOT A NOT-ON-FILE")
    );
    let names: Vec<&str> = p
        .redact_fields
        .iter()
        .map(|f| p.catalogue.name(f))
        .collect();
    assert_eq!(names, ["photo", "pob"]);
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match load_mem(files) {
        Ok(_) => panic!("expected errors"),
        Err(r) => r.errors.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn every_error_has_file_and_line() {
    let text = r#"[deny]
reply_ori = "COOLN0000"

[[list]]
name = "a"
action = "deny"
entries = ["VTICE090", "vtice0900", "VT-CE0900", "V*ICE"]
files = ["missing.txt", "bad.txt"]

[[list]]
name = "a"
action = "block"

[redact]
exempt = ["DQX"]
fields = ["taxid"]
"#;
    let bad = "# header\nVTICE0900\n\nXXX # three\n";
    let e = errors(&[("dir/p.toml", text), ("dir/bad.txt", bad)]);
    let want = [
        "dir/p.toml:7: error: \"VTICE090\" is 8 characters",
        "dir/p.toml:7: error: \"vtice0900\": ORIs are upper-case",
        "dir/p.toml:7: error: \"VT-CE0900\": character '-'",
        "dir/p.toml:7: error: \"V*ICE\": '*' may only end",
        "dir/p.toml:8: error: cannot read list file \"missing.txt\" (dir/missing.txt)",
        "dir/bad.txt:4: error: \"XXX\" is 3 characters",
        "dir/p.toml:11: error: duplicate list name \"a\" (first defined at line 5)",
        "dir/p.toml:12: error: unknown action \"block\"",
        "dir/p.toml:15: error: unknown message key \"DQX\"",
        "dir/p.toml:16: error: unknown field \"taxid\"",
    ];
    for w in want {
        assert!(
            e.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in {e:#?}"
        );
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");

    // TOML syntax errors and unknown keys carry a line too.
    let e = errors(&[("p.toml", "[deny]\nreply_ori = \"COOLN0000\"\nbogus = 1\n")]);
    assert!(
        e[0].starts_with("p.toml:3: error: unknown field `bogus`"),
        "{e:?}"
    );
    let e = errors(&[("p.toml", "default = \"pass\"\n[[list]\n")]);
    assert!(e[0].starts_with("p.toml:2: error:"), "{e:?}");
    let e = errors(&[(
        "p.toml",
        "default = \"allow\"\n[deny]\nreply_ori = \"COOLN0000\"\n",
    )]);
    assert!(
        e[0].starts_with("p.toml:1: error: unknown default action"),
        "{e:?}"
    );
    // A deny that replies needs the state's reply ORI.
    let e = errors(&[("p.toml", "default = \"pass\"\n")]);
    assert!(e[0].contains("deny.reply_ori"), "{e:?}");
    // A decline must never pretend the record does not exist.
    let e = errors(&[(
        "p.toml",
        "[deny]\nreply_ori = \"COOLN0000\"\nreply_text = \"NOT ON FILE\"\n",
    )]);
    assert!(
        e[0].starts_with("p.toml:3: error: deny.reply_text must not say NOT ON FILE"),
        "{e:?}"
    );
    // Unreadable policy file.
    let e = errors(&[("other.toml", "")]);
    let _ = e;
}

#[test]
fn warnings_are_not_errors() {
    let p = pol(&[
        list("everyone", "redact", &["*"]),
        list("ice", "deny", &["??ICE????", "AX"]),
        list("ok", "allow", &["VTICE0900", "AX"]),
    ]
    .concat());
    let w: Vec<String> = p.warnings.iter().map(|d| d.to_string()).collect();
    assert!(w.iter().any(|m| m.contains("matches every ORI")), "{w:#?}");
    assert!(
        w.iter().any(|m| m.contains("allow entry VTICE0900")
            && m.contains("overrides deny pattern ??ICE????")),
        "{w:#?}"
    );
    assert!(w.iter().any(|m| m.contains("AX is in list")), "{w:#?}");
    assert!(p.warnings.iter().all(|d| d.severity == Severity::Warning));
}

#[test]
fn list_files_and_version() {
    let text = format!("{HEAD}[[list]]\nname = \"l\"\naction = \"deny\"\nfiles = [\"l.txt\"]\n");
    let a = load_mem(&[("p.toml", &text), ("l.txt", "VTICE0900\n")]).unwrap();
    let b = load_mem(&[("p.toml", &text), ("l.txt", "VTICE0900\n")]).unwrap();
    assert_eq!(a.version, b.version);
    assert_eq!(a.version.len(), 64);
    assert_eq!(a.entries[0].file.as_ref(), "l.txt");
    assert_eq!(a.entries[0].line, 1);
    // A list file change changes the version, even a comment-only one: the
    // version identifies the exact bytes in force.
    let c = load_mem(&[("p.toml", &text), ("l.txt", "VTICE0900 # note\n")]).unwrap();
    assert_ne!(a.version, c.version);
    let d = load_mem(&[
        ("p.toml", &format!("# comment\n{text}")),
        ("l.txt", "VTICE0900\n"),
    ])
    .unwrap();
    assert_ne!(a.version, d.version);
}

#[test]
fn example_policy_is_valid_and_clean() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml");
    let p = load(path, &mut |f: &str| std::fs::read(f)).unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.lookup(b"VTICE0900").action, Action::Deny);
    assert_eq!(p.lookup(b"VADEADX00").action, Action::Redact);
    assert_eq!(p.lookup(b"AZNLETS20").action, Action::Pass);
    assert_eq!(p.reply_ori.unwrap().as_str(), "COOLN0000");
}

// Brute-force reference: the best of all matching entries.
fn reference(p: &Policy, ori: &[u8]) -> Action {
    p.matches(ori).first().map_or(p.default, |&e| {
        p.lists[p.entries[e as usize].list as usize].action
    })
}

fn arb_entry() -> impl Strategy<Value = String> {
    let c = prop::sample::select(vec!['A', 'B', 'C', '0', '1']);
    prop_oneof![
        proptest::collection::vec(c.clone(), 9).prop_map(|v| v.into_iter().collect::<String>()),
        proptest::collection::vec(c.clone(), 2).prop_map(|v| v.into_iter().collect::<String>()),
        proptest::collection::vec(prop_oneof![c.clone().prop_map(|c| c), Just('?')], 9)
            .prop_map(|v| v.into_iter().collect::<String>()),
        (proptest::collection::vec(c, 0..8))
            .prop_map(|v| format!("{}*", v.into_iter().collect::<String>())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn compiled_lookup_matches_reference(
        lists in proptest::collection::vec(
            (prop::sample::select(vec!["deny", "redact", "allow"]), proptest::collection::vec(arb_entry(), 0..12)),
            1..5),
        oris in proptest::collection::vec(proptest::collection::vec(prop::sample::select(vec![b'A', b'B', b'C', b'0', b'1']), 9), 1..40),
    ) {
        let mut text = String::from(HEAD);
        for (i, (action, entries)) in lists.iter().enumerate() {
            let e: Vec<&str> = entries.iter().map(|s| s.as_str()).collect();
            text.push_str(&list(&format!("l{i}"), action, &e));
        }
        let p = load_mem(&[("p.toml", &text)]).unwrap();
        for ori in &oris {
            prop_assert_eq!(p.lookup(ori).action, reference(&p, ori), "{}", String::from_utf8_lossy(ori));
            prop_assert_eq!(p.lookup(&ori[..2]).action, reference(&p, &ori[..2]));
        }
    }
}
