//! The `origuard` binary: parse arguments, run the chosen command, map the
//! result to an exit code (0 success, 1 the command's own failure,
//! 2 input/framing error, 64 bad usage or configuration).
#![forbid(unsafe_code)]

use clap::Parser;
use origuard::cli::{Cli, Command, PolicyCommand};
use origuard::tools::policy_cmd::{self, Outcome};
use std::process::ExitCode;

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Policy(cmd) => {
            let out = match cmd {
                PolicyCommand::Check { file } => policy_cmd::check(&file),
                PolicyCommand::Explain {
                    policy,
                    ori,
                    mke,
                    direction,
                } => policy_cmd::explain_cmd(&policy, &ori, mke.as_deref(), direction),
                PolicyCommand::Diff { old, new } => match policy_cmd::diff_cmd(&old, &new) {
                    Ok((_, _, text)) => Outcome {
                        code: 0,
                        stdout: text,
                        stderr: String::new(),
                    },
                    Err(o) => o,
                },
            };
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            ExitCode::from(out.code)
        }
        Command::Inspect {
            framing,
            max_message,
            file,
        } => {
            let mut out = std::io::stdout().lock();
            match origuard::tools::inspect::run(&file, framing, max_message, &mut out) {
                Ok(s) => match s.stopped {
                    Some(e) => {
                        eprintln!(
                            "origuard inspect: {file}: stopped after {} message(s): {e}",
                            s.messages
                        );
                        ExitCode::from(2)
                    }
                    None => ExitCode::SUCCESS,
                },
                Err(e) => {
                    eprintln!("origuard inspect: {e}");
                    ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound {
                        EX_USAGE
                    } else {
                        2
                    })
                }
            }
        }
    }
}
