//! The `origuard` binary: parse arguments, run the command, exit with its code.
#![forbid(unsafe_code)]

use clap::Parser;
use origuard::cli::Cli;
use origuard::tools::run::{run, EX_USAGE};
use std::process::ExitCode;

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => ExitCode::from(run(cli)),
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            ExitCode::from(code)
        }
    }
}
