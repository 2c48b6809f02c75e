#![allow(dead_code)] // each test file uses the part it needs
//! What a test does when a tool or a facility it needs (Chromium, tshark, a
//! private tmpfs, script(1), libfaketime, openssl) is missing: under
//! `CI=true` it fails, so CI never counts a check that did not run as
//! passed (`.ci/run` installs every such tool); elsewhere it says `SKIPPED`
//! on stderr, and the caller returns.
//!
//! Shared by `mod common` users and, through `#[path]`, by test files that
//! need nothing else of `tests/common/`.

/// True under `CI=true`.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `test` cannot run its check because `what` is missing; `install` says
/// how to get it. Panics under `CI=true`; otherwise prints `SKIPPED` and
/// returns, and the caller returns.
pub fn missing(test: &str, what: &str, install: &str) {
    assert!(
        !in_ci(),
        "{test}: {what} is required under CI=true ({install})"
    );
    eprintln!("SKIPPED {test}: {what} is missing here ({install})");
}

/// True when `tool --version` runs; otherwise [`missing`] (a failure under
/// `CI=true`) and false.
pub fn have(test: &str, tool: &str, install: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        missing(test, tool, install);
    }
    ok
}
