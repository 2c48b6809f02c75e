//! `origuard man [--dir DIR]`: the manual pages (roff) generated from the
//! clap definitions ([`crate::tools::cli`]): `origuard(1)` on standard
//! output, or with `--dir` one page per command (`origuard.1`,
//! `origuard-serve.1`, `origuard-policy-check.1`, …) for packaging.

use crate::tools::cli::{Cli, ManCli};
use clap::CommandFactory;

/// Prints `origuard(1)` or writes every page into `a.dir`; returns the exit code.
pub fn command(a: ManCli) -> u8 {
    let cmd = Cli::command();
    if let Some(dir) = a.dir {
        if let Err(e) =
            std::fs::create_dir_all(&dir).and_then(|()| clap_mangen::generate_to(cmd, &dir))
        {
            eprintln!("origuard man: {dir}: {e}");
            return 1;
        }
        return 0;
    }
    let mut page = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
        eprintln!("origuard man: {e}");
        return 1;
    }
    super::completions::write_stdout(&page, "man")
}
