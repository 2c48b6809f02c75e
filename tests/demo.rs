//! `origuard demo` (the README's first command) runs, reports and finds no leak.

#[test]
fn demo_runs_and_reports_no_leak() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_origuard"))
        .args(["demo", "--duration", "2s", "--rate", "100", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("photos or places of birth to restricted agencies 0  (none: good)"),
        "{out}"
    );
    assert!(
        out.contains("immigration_enforcement") && out.contains("denied"),
        "{out}"
    );
    assert!(
        out.contains("federal_redact") && out.contains("redacted"),
        "{out}"
    );
    assert!(out.contains("intact,"), "{out}");
    assert!(dir.path().join("audit.jsonl").exists() && dir.path().join("metrics.txt").exists());
    let m = std::fs::read_to_string(dir.path().join("metrics.txt")).unwrap();
    assert!(m.contains("origuard_messages_total"));
}

#[test]
fn demo_runs_outside_a_checkout_with_the_built_in_policy() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().join("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_origuard"))
        .current_dir(cwd.path())
        .args(["demo", "--duration", "1s", "--rate", "50", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("(none: good)"), "{out}");
    assert!(dir.join("policy/colorado.toml").exists());
    assert!(dir.join("policy/lists/immigration.txt").exists());
}
