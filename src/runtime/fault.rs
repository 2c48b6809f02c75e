//! Fault injection for the crash tests (tests/faults.rs, `crash_…`): a
//! debug build run with `ORIGUARD_TEST_CRASH_AT=STEP` aborts — no
//! destructors, no flush, as `kill -9` would end it — when it reaches the
//! named step. Release builds compile the hook to nothing, so the variable
//! has no effect on a shipped binary.
//!
//! Steps (specs/audit.md, *Crash safety*): `rotate_before_rename`,
//! `rotate_after_rename`, `rotate_after_create`, `new_file_after_header`,
//! `rotate_after_first_write`, `checkpoint_before_rename`,
//! `checkpoint_before_history`.

/// The environment variable naming the step to abort at.
pub const CRASH_AT: &str = "ORIGUARD_TEST_CRASH_AT";

/// Aborts the process here when `CRASH_AT` names `step` (debug builds only).
#[cfg(debug_assertions)]
pub fn crash_point(step: &str) {
    if std::env::var_os(CRASH_AT).is_some_and(|v| v == step) {
        eprintln!("origuard: {CRASH_AT}={step}: aborting here (test hook)");
        std::process::abort();
    }
}

/// Release builds: no hook.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn crash_point(_step: &str) {}
