//! `origuard policy check|explain|diff` as an administrator runs them.

#[path = "common/cli.rs"]
mod cli;
use cli::{bin, run};

const EXAMPLE: &str = cli::EXAMPLE_POLICY;

#[test]
fn check_valid_and_invalid() {
    let (code, out, err) = run(&["policy", "check", EXAMPLE]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("valid, version "), "{out}");
    assert!(
        out.contains("immigration_enforcement      deny          3       1        0"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"x\"\naction = \"deny\"\nentries = [\"VTICE09\", \"OK\"]\nfiles = [\"nope.txt\"]\n").unwrap();
    let (code, out, err) = run(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("bad.toml:6: error: \"VTICE09\" is 7 characters"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:7: error: cannot read list file \"nope.txt\""),
        "{err}"
    );
    assert!(err.contains("refused: 2 error(s)"), "{err}");
}

#[test]
fn explain_names_the_winner_and_the_losers() {
    let (code, out, _) = run(&[
        "policy",
        "explain",
        "--policy",
        EXAMPLE,
        "VTICE0900",
        "--mke",
        "DQ",
        "--direction",
        "inbound",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("VTICE0900: deny — exact entry VTICE0900 in list \"immigration_enforcement\""),
        "{out}"
    );
    assert!(out.contains("colorado.toml:"), "{out}");
    assert!(
        out.contains("pattern entry ??ICE???? in list \"immigration_pattern\" (deny)"),
        "{out}"
    );
    assert!(out.contains("exact beats pattern"), "{out}");
    assert!(
        out.contains("decline reply goes back to the requester"),
        "{out}"
    );
    let (_, out, _) = run(&[
        "policy",
        "explain",
        "--policy",
        EXAMPLE,
        "VADEADX00",
        "--mke",
        "DR",
    ]);
    assert!(
        out.contains("VADEADX00: redact") && out.contains("removed fields: photo, pob"),
        "{out}"
    );
    let (_, out, _) = run(&["policy", "explain", "--policy", EXAMPLE, "azNLETS20"]);
    assert!(out.contains("AZNLETS20: pass — in no list"), "{out}");
    let (code, _, _) = run(&[
        "policy",
        "explain",
        "--policy",
        EXAMPLE,
        "X",
        "--direction",
        "sideways",
    ]);
    assert_eq!(code, 64);
}

#[test]
fn diff_shows_entries_and_action_changes() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.toml");
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let text = text
        .replace("files = [\"lists/immigration.txt\"]", "")
        .replace(
            "action = \"redact\"\ndescription = \"Federal",
            "action = \"deny\"\ndescription = \"Federal",
        )
        .replace(
            "files = [\"lists/federal_redact.txt\"]",
            "entries = [\"VADEADX00\", \"MNICE0000\"]",
        );
    std::fs::write(&new, text).unwrap();
    let (code, out, err) = run(&["policy", "diff", EXAMPLE, new.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("list \"federal_redact\": action redact -> deny"),
        "{out}"
    );
    assert!(
        out.contains("list \"federal_redact\": + MNICE0000"),
        "{out}"
    );
    assert!(
        out.contains("list \"immigration_enforcement\": - CAICE1000 TXICE2000"),
        "{out}"
    );
    assert!(out.contains("  VADEADX00: redact -> deny"), "{out}");
    assert!(out.contains("  DCFBI0000: redact -> pass"), "{out}");
    // CAICE1000 left the exact list but the ??ICE???? pattern still denies it.
    assert!(!out.contains("CAICE1000: deny"), "{out}");
}

#[test]
fn explain_upper_cases_the_key() {
    let (code, out, _) = run(&[
        "policy",
        "explain",
        "--policy",
        EXAMPLE,
        "VTICE0900",
        "--mke",
        "dq",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("for DQ (query): deny"), "{out}");
}

#[test]
fn profile_learn_proposes_a_valid_profile_without_values() {
    let cap = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/captures/outbound.len4"
    );
    let (code, out, err) = run(&["policy", "profile", "--learn", cap, "--name", "learned"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("learned from 14 messages"), "{err}");
    // Labels and paths with shapes; protected ones only as comments.
    assert!(out.contains("{ label = \"DOB\", sep = \"/\""), "{out}");
    assert!(
        out.contains("n2:NLETSResponseData/n2:Person/nc:PersonName/nc:PersonSurName"),
        "{out}"
    );
    for l in out.lines() {
        let active = !l.trim_start().starts_with('#');
        if active {
            for bad in ["POB", "BIRTH", "BinaryBase64Object", "PersonDigitalImage"] {
                assert!(!l.contains(bad), "{bad} proposed: {l}");
            }
        }
    }
    // Never a value: no licence number, name or place from the capture.
    for v in ["000000000", "19800115", "JANE", "EXAMPLE CITY", "/9j/"] {
        assert!(!out.contains(v), "value {v} printed");
    }
    // The proposal is a profile `policy check` accepts.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!("[deny]\nreply_ori = \"COOLN0000\"\n[redact]\nprofile = \"learned\"\n{out}"),
    )
    .unwrap();
    let (code, out, err) = run(&["policy", "check", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("profile learned: releases"), "{out}");
}

#[test]
fn diff_exit_code_says_whether_anything_differs() {
    let (code, _, _) = run(&["policy", "diff", EXAMPLE, EXAMPLE, "--exit-code"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("p.toml");
    std::fs::write(&other, cli::DENY_ICE_POLICY).unwrap();
    let (code, out, _) = run(&[
        "policy",
        "diff",
        EXAMPLE,
        other.to_str().unwrap(),
        "--exit-code",
    ]);
    assert_eq!(code, 3, "{out}");
    // An invalid policy is 1, distinct from "changed".
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[list]]\nname = \"x\"\naction = \"block\"\n").unwrap();
    let (code, _, err) = run(&[
        "policy",
        "diff",
        EXAMPLE,
        bad.to_str().unwrap(),
        "--exit-code",
    ]);
    assert_eq!(code, 1, "{err}");
    // Without the flag a difference is not a failure.
    let (code, _, _) = run(&["policy", "diff", EXAMPLE, other.to_str().unwrap()]);
    assert_eq!(code, 0);
}

#[test]
fn gen_writes_to_stdout_with_dash() {
    let o = bin().args(["gen", "--count", "3", "-"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout[0], 0, "a len4 frame starts with its length");
    assert!(!std::path::Path::new("-").exists(), "wrote a file named -");
}

fn json(out: &str) -> serde_json::Value {
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn check_json_matches_the_text_and_reports_errors() {
    let (code, out, err) = run(&["policy", "check", "--json", EXAMPLE]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["valid"], true);
    let (_, text, _) = run(&["policy", "check", EXAMPLE]);
    let short = v["short_version"].as_str().unwrap();
    assert!(
        text.contains(&format!("valid, version {short} (")),
        "{text}"
    );
    assert_eq!(v["version"].as_str().unwrap().len(), 64);
    let list = v["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "immigration_enforcement")
        .unwrap();
    assert_eq!(
        (
            &list["action"],
            &list["exact"],
            &list["member"],
            &list["pattern"]
        ),
        (&"deny".into(), &3.into(), &1.into(), &0.into())
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"x\"\naction = \"deny\"\nentries = [\"VTICE09\"]\n").unwrap();
    let (code, out, err) = run(&["policy", "check", "--json", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v = json(&out);
    assert_eq!(v["valid"], false);
    let e = &v["errors"][0];
    assert_eq!(e["line"], 6);
    assert!(
        e["message"].as_str().unwrap().contains("7 characters"),
        "{v}"
    );
    // The text diagnostics stay on stderr.
    assert!(err.contains("bad.toml:6: error:"), "{err}");
}

#[test]
fn explain_json_names_the_deciding_entry_and_the_losers() {
    let (code, out, err) = run(&[
        "policy",
        "explain",
        "--json",
        "--policy",
        EXAMPLE,
        "VTICE0900",
        "--mke",
        "DQ",
        "--direction",
        "inbound",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["action"], "deny");
    assert_eq!(v["entry"]["text"], "VTICE0900");
    assert_eq!(v["entry"]["kind"], "exact");
    assert_eq!(v["entry"]["list"], "immigration_enforcement");
    assert!(v["entry"]["line"].as_u64().unwrap() > 0);
    let lost: Vec<&str> = v["also_matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(lost, ["??ICE????"]);
    let lines = v["lines"].as_array().unwrap();
    assert!(lines
        .iter()
        .any(|l| l.as_str().unwrap().contains("decline reply")));
    // A redact-listed agency names its profile.
    let (_, out, _) = run(&[
        "policy",
        "explain",
        "--json",
        "--policy",
        EXAMPLE,
        "VADEADX00",
    ]);
    let v = json(&out);
    assert_eq!(v["action"], "redact");
    assert_eq!(v["profile"], "colorado-dmv");
}

#[test]
fn diff_json_counts_changes_and_what_if() {
    let (code, out, _) = run(&["policy", "diff", "--json", "--exit-code", EXAMPLE, EXAMPLE]);
    assert_eq!(code, 0);
    let v = json(&out);
    assert_eq!(v["changes"], 0);
    assert_eq!(v["old"]["version"], v["new"]["version"]);
    assert!(v["what_if"].is_null());
    // A copy that denies one more agency.
    let dir = tempfile::tempdir().unwrap();
    let deploy = std::path::Path::new(EXAMPLE).parent().unwrap();
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    for f in ["immigration.txt", "federal_redact.txt"] {
        std::fs::copy(
            deploy.join("lists").join(f),
            dir.path().join("lists").join(f),
        )
        .unwrap();
    }
    let new = dir.path().join("new.toml");
    assert!(text.contains("\"VTICE0900\""));
    std::fs::write(
        &new,
        text.replacen("\"VTICE0900\"", "\"VTICE0900\", \"AZNLETS20\"", 1),
    )
    .unwrap();
    let capture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/captures/inbound.len4"
    );
    let args = [
        "policy",
        "diff",
        "--json",
        "--exit-code",
        EXAMPLE,
        new.to_str().unwrap(),
        "--capture",
        capture,
        "--direction",
        "inbound",
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 3, "{err}");
    let v = json(&out);
    assert!(v["changes"].as_u64().unwrap() >= 1, "{v}");
    assert_ne!(v["old"]["version"], v["new"]["version"]);
    // The what-if count is the one the text reports.
    let text_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let (_, text, _) = run(&text_args);
    let changed = v["what_if"]["changed"].as_u64().unwrap();
    assert!(
        changed > 0,
        "denying AZNLETS20 changes some inbound outcomes"
    );
    assert!(
        text.contains(&format!(": {changed} of ")),
        "{changed} vs {text}"
    );
}

/// `specs/policy.md` shows `policy check` on the example policy as it
/// prints today (the version hash included), run from the repository root.
#[test]
fn the_spec_shows_policy_check_as_it_prints() {
    let o = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["policy", "check", "deploy/policy/colorado.toml"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/policy.md")).unwrap();
    assert!(
        spec.contains(&format!("```\n{out}```\n")),
        "specs/policy.md (Commands) should show, as a block:\n{out}"
    );
}
