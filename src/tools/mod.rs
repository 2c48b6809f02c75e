//! The commands: one file per command, each with a `command(args) -> u8`
//! that returns the process exit code (0 success, 1 the command's own
//! failure, 2 input or framing error, 64 bad usage or configuration), and
//! [`dispatch`], which `main.rs` calls.

use cli::{Cli, Command};

pub use common::EX_USAGE;

/// Runs one parsed command line; returns the exit code.
pub fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Serve(a) => serve::command(a),
        Command::Bench(a) => bench::command(a),
        Command::Gen(a) => gen::command(a),
        Command::Demo(a) => demo::command(a),
        Command::Filter(a) => filter::command(a),
        Command::Audit(a) => audit_cmd::command(a),
        Command::Policy(a) => policy_cmd::command(a),
        Command::Inspect(a) => inspect::command(a),
        Command::Report(a) => report_cmd::command(a),
        Command::Completions(a) => completions::command(a),
        Command::Man(a) => man::command(a),
    }
}

pub mod audit_cmd;
pub mod audit_export;
pub mod audit_files;
pub mod bench;
pub mod cli;
pub mod common;
pub mod completions;
pub mod demo;
pub mod filter;
pub mod gen;
pub mod inspect;
pub mod learn;
pub mod man;
pub mod policy_cmd;
pub mod policy_json;
pub mod report_cmd;
pub mod serve;
