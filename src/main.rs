//! The `origuard` binary: parse arguments, run the command, exit with its code.
#![forbid(unsafe_code)]

use clap::Parser;
use origuard::tools::cli::Cli;
use origuard::tools::{dispatch, EX_USAGE};
use std::process::ExitCode;

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
