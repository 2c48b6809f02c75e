//! The commands: one file per command, each with a `command(args) -> u8`
//! that returns the process exit code (0 success, 1 the command's own
//! failure, 2 input or framing error, 64 bad usage or configuration), and
//! [`dispatch`], which `main.rs` calls.

use cli::{Cli, Command};

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
pub const EX_USAGE: u8 = 64;

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
    }
}

pub mod audit_cmd;
pub mod bench;
pub mod cli;
pub mod demo;
pub mod filter;
pub mod gen;
pub mod inspect;
pub mod learn;
pub mod policy_cmd;
pub mod serve;

/// The example policy: `deploy/policy/colorado.toml` under the working
/// directory when present (a checkout), else the one this binary was built from.
pub fn example_policy_path() -> String {
    let local = "deploy/policy/colorado.toml";
    if std::path::Path::new(local).exists() {
        local.to_string()
    } else {
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml").to_string()
    }
}

pub(crate) fn init_tracing(format: crate::runtime::config::LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORIGUARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::runtime::config::LogFormat::Json => b.json().try_init(),
        crate::runtime::config::LogFormat::Text => b.try_init(),
    };
}

pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}
