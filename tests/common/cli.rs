#![allow(dead_code)] // each test file uses the part it needs
//! The origuard binary for command-line tests: the command, the example
//! policy's path, and `origuard demo` run into a temporary directory.
//!
//! Shared by `mod common` users and, through `#[path]`, by the command-line
//! test files that need nothing else of `tests/common/`.

use std::process::Command;

/// The example policy shipped in `deploy/policy/`.
pub const EXAMPLE_POLICY: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml");

/// A policy of one deny list, `d`, holding ICE (`VTICE0900`); the tests
/// that reload add an agency to it.
pub const DENY_ICE_POLICY: &str = "[deny]\nreply_ori = \"COOLN0000\"\n[[list]]\nname = \"d\"\naction = \"deny\"\nentries = [\"VTICE0900\"]\n";

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_origuard"))
}

/// What a finished command said: its exit code (-1 when a signal ended
/// it), its stdout and its stderr.
pub fn outcome(cmd: &mut Command) -> (i32, String, String) {
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `origuard ARGS` to the end: exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    outcome(bin().args(args))
}

/// Runs `origuard demo --duration DURATION [EXTRA] --dir TEMP` and returns
/// the directory (its `audit.jsonl`, `report/`, …) and what the demo wrote
/// to stdout; fails the test when the demo fails.
pub fn demo(duration: &str, extra: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["demo", "--duration", duration])
        .args(extra)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir, String::from_utf8_lossy(&o.stdout).into_owned())
}
