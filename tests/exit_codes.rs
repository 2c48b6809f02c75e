//! One exit code per class of failure, across every command (the README's
//! exit-code table): 0 success; 1 the command's own negative result (an
//! invalid policy, a broken audit log); 3 `policy diff --exit-code` when
//! the policies differ (test `diff_exit_code_says_whether_anything_differs`
//! in tests/policy_cli.rs); 2 input that cannot be read or used (a missing or
//! unreadable file, a framing error, a policy refused by a command that
//! uses it, a capture without timing for `--rate recorded`); 64 bad usage
//! (unknown flags, bad values, a configuration `serve` refuses). The table
//! below runs the binary for each command and class.

use std::path::Path;

#[path = "common/cli.rs"]
mod cli;

const POLICY: &str = cli::EXAMPLE_POLICY;

/// The failure classes of the table.
#[derive(Clone, Copy, Debug)]
enum Class {
    /// The input file does not exist.
    MissingInput,
    /// Arguments the command does not accept.
    BadUsage,
    /// Input that exists but cannot be used.
    RefusedInput,
    /// The command's own negative result.
    Negative,
}

impl Class {
    fn code(self, serve: bool) -> i32 {
        match self {
            // serve: every problem with its configuration or the files it
            // names is a configuration error.
            _ if serve => 64,
            Class::MissingInput | Class::RefusedInput => 2,
            Class::BadUsage => 64,
            Class::Negative => 1,
        }
    }
}

struct Files {
    _dir: tempfile::TempDir,
    missing: String,
    bad_frame: String,
    bad_policy: String,
    stream: String,
    broken_log: String,
    out: String,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    std::fs::write(p("bad_frame"), b"\xff\xff\xff\xffabc").unwrap();
    std::fs::write(p("bad.toml"), "x = [").unwrap();
    std::fs::write(p("broken.jsonl"), "{\"kind\":\"x\"}\n").unwrap();
    assert!(cli::bin()
        .args(["gen", "--count", "3"])
        .arg(p("ok.len4"))
        .output()
        .unwrap()
        .status
        .success());
    Files {
        missing: p("missing"),
        bad_frame: p("bad_frame"),
        bad_policy: p("bad.toml"),
        stream: p("ok.len4"),
        broken_log: p("broken.jsonl"),
        out: p("out"),
        _dir: dir,
    }
}

#[test]
fn every_command_exits_with_its_class_code() {
    let f = files();
    let (m, bf, bp, s, bl, o) = (
        f.missing.as_str(),
        f.bad_frame.as_str(),
        f.bad_policy.as_str(),
        f.stream.as_str(),
        f.broken_log.as_str(),
        f.out.as_str(),
    );
    use Class::*;
    let serve_cfg = Path::new(o).with_extension("toml");
    std::fs::write(&serve_cfg, "[policy]\nfile = \"/nonexistent.toml\"\n").unwrap();
    let serve_cfg = serve_cfg.to_str().unwrap();
    let table: Vec<(Class, Vec<&str>)> = vec![
        (MissingInput, vec!["inspect", m]),
        (BadUsage, vec!["inspect", "--framing", "bogus", s]),
        (RefusedInput, vec!["inspect", "--framing", "len4", bf]),
        (
            MissingInput,
            vec![
                "filter",
                "--policy",
                POLICY,
                "--direction",
                "outbound",
                m,
                o,
            ],
        ),
        (
            MissingInput,
            vec!["filter", "--policy", m, "--direction", "outbound", s, o],
        ),
        (BadUsage, vec!["filter", "--policy", POLICY, s, o]),
        (
            RefusedInput,
            vec![
                "filter",
                "--policy",
                POLICY,
                "--direction",
                "outbound",
                "--framing",
                "len4",
                bf,
                o,
            ],
        ),
        (
            RefusedInput,
            vec!["filter", "--policy", bp, "--direction", "outbound", s, o],
        ),
        (
            BadUsage,
            vec!["gen", "--count", "3", "--format", "bogus", o],
        ),
        (
            BadUsage,
            vec!["gen", "--count", "3", "--rate", "0", "--format", "pcap", o],
        ),
        (
            BadUsage,
            vec![
                "gen",
                "--count",
                "3",
                "--start",
                "yesterday",
                "--format",
                "pcap",
                o,
            ],
        ),
        (
            MissingInput,
            vec!["bench", "--target", "self", "--capture", m],
        ),
        (
            BadUsage,
            vec![
                "bench",
                "--target",
                "self",
                "--rate",
                "bogus",
                "--capture",
                s,
            ],
        ),
        (
            RefusedInput,
            vec![
                "bench",
                "--target",
                "self",
                "--capture-framing",
                "len4",
                "--capture",
                bf,
            ],
        ),
        (
            RefusedInput,
            vec![
                "bench",
                "--target",
                "self",
                "--rate",
                "recorded",
                "--capture",
                s,
            ],
        ),
        (
            RefusedInput,
            vec!["bench", "--target", "self", "--policy", bp, "--capture", s],
        ),
        (MissingInput, vec!["policy", "check", m]),
        (BadUsage, vec!["policy", "check", "--bogus", POLICY]),
        (Negative, vec!["policy", "check", bp]),
        (
            MissingInput,
            vec!["policy", "explain", "--policy", m, "VTICE0900"],
        ),
        (
            BadUsage,
            vec!["policy", "explain", "--policy", POLICY, "BAD"],
        ),
        (
            Negative,
            vec!["policy", "explain", "--policy", bp, "VTICE0900"],
        ),
        (MissingInput, vec!["policy", "diff", m, POLICY]),
        (BadUsage, vec!["policy", "diff", POLICY]),
        (Negative, vec!["policy", "diff", bp, POLICY]),
        (
            MissingInput,
            vec![
                "policy",
                "diff",
                POLICY,
                POLICY,
                "--capture",
                m,
                "--direction",
                "outbound",
            ],
        ),
        (
            RefusedInput,
            vec![
                "policy",
                "diff",
                POLICY,
                POLICY,
                "--capture",
                bf,
                "--framing",
                "len4",
                "--direction",
                "outbound",
            ],
        ),
        (MissingInput, vec!["policy", "profile", "--learn", m]),
        (
            RefusedInput,
            vec!["policy", "profile", "--learn", bf, "--framing", "len4"],
        ),
        (MissingInput, vec!["audit", "verify", m]),
        (BadUsage, vec!["audit", "verify"]),
        (Negative, vec!["audit", "verify", bl]),
        (MissingInput, vec!["report", "--audit", m, "--out", o]),
        (
            BadUsage,
            vec!["report", "--audit", bl, "--out", o, "--period", "bogus"],
        ),
        (Negative, vec!["report", "--audit", bl, "--out", o]),
        (
            BadUsage,
            vec![
                "report",
                "--audit",
                bl,
                "--out",
                o,
                "--small-cell",
                "figures=1",
            ],
        ),
        (
            BadUsage,
            vec![
                "report",
                "--audit",
                bl,
                "--out",
                o,
                "--small-cell",
                "figures=0",
            ],
        ),
        (
            BadUsage,
            vec![
                "report",
                "--audit",
                bl,
                "--out",
                o,
                "--small-cell",
                "nope=5",
            ],
        ),
        (
            BadUsage,
            vec![
                "report",
                "--audit",
                bl,
                "--out",
                o,
                "--small-cell",
                "figures",
            ],
        ),
        (MissingInput, vec!["serve", "--config", m, "--check"]),
        (BadUsage, vec!["serve", "--check", "--bogus"]),
        (RefusedInput, vec!["serve", "--config", bp, "--check"]),
        (
            RefusedInput,
            vec!["serve", "--config", serve_cfg, "--check"],
        ),
        (
            MissingInput,
            vec!["demo", "--policy", m, "--duration", "1s"],
        ),
        (BadUsage, vec!["demo", "--rate", "bogus"]),
        (
            RefusedInput,
            vec!["demo", "--policy", bp, "--duration", "1s"],
        ),
        (BadUsage, vec!["completions", "bogus-shell"]),
        (BadUsage, vec!["no-such-command"]),
    ];
    let mut wrong = Vec::new();
    for (class, args) in &table {
        let out = cli::bin().args(args).output().unwrap();
        let want = class.code(args[0] == "serve");
        let got = out.status.code().unwrap_or(-1);
        if got != want {
            wrong.push(format!(
                "{args:?} ({class:?}): exit {got}, want {want}: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
