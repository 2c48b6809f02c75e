//! `origuard completions SHELL`: a shell completion script generated from
//! the clap definitions ([`crate::tools::cli`]), so it always knows the real
//! commands and flags. Installation is the shell's own (README, *Shell
//! completions*).

use crate::tools::cli::{Cli, CompletionsCli};
use clap::CommandFactory;

/// Prints the completion script for `a.shell`; returns the exit code.
pub fn command(a: CompletionsCli) -> u8 {
    let mut cmd = Cli::command();
    // Generated into memory first: the generator panics on a write error,
    // and a closed pipe (`| head`) must end quietly.
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "origuard", &mut script);
    super::common::write_stdout(&script, "completions")
}
