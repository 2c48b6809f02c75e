//! The `origuard` binary: parse arguments, run the command, exit with its code.
#![forbid(unsafe_code)]

use clap::Parser;
use origuard::tools::cli::Cli;
use origuard::tools::{dispatch, EX_USAGE};
use std::process::ExitCode;

/// jemalloc with background purging gives freed memory back to the system
/// even while the worker threads are idle (glibc malloc kept 60–70 MiB after
/// rounds of 1,000 sessions; tests/faults.rs `f7` measures it). Decay times
/// are set in `.cargo/config.toml`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => ExitCode::from(dispatch(cli)),
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            ExitCode::from(code)
        }
    }
}
