//! `origuard completions SHELL`: a shell completion script generated from
//! the clap definitions ([`crate::tools::cli`]), so it always knows the real
//! commands and flags. Installation is the shell's own (README, *Shell
//! completions*).

use crate::tools::cli::{Cli, CompletionsCli};
use clap::CommandFactory;
use std::io::Write;

/// Prints the completion script for `a.shell`; returns the exit code.
pub fn command(a: CompletionsCli) -> u8 {
    let mut cmd = Cli::command();
    // Generated into memory first: the generator panics on a write error,
    // and a closed pipe (`| head`) must end quietly.
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "origuard", &mut script);
    write_stdout(&script, "completions")
}

/// Writes `bytes` to standard output; a closed pipe is not an error.
pub(crate) fn write_stdout(bytes: &[u8], what: &str) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("origuard {what}: standard output: {e}");
            1
        }
    }
}
