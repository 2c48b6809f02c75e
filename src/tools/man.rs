//! `origuard man [--dir DIR]`: the manual pages (roff) generated from the
//! clap definitions ([`crate::tools::cli`]): `origuard(1)` on standard
//! output, or with `--dir` one page per command (`origuard.1`,
//! `origuard-serve.1`, `origuard-policy-check.1`, …) for packaging. Every
//! page also has an EXIT STATUS and an ENVIRONMENT section, written here
//! (clap knows neither), before VERSION.

use crate::tools::cli::{Cli, ManCli};
use clap::CommandFactory;

/// Prints `origuard(1)` or writes every page into `a.dir`; returns the exit code.
pub fn command(a: ManCli) -> u8 {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    if let Some(dir) = a.dir {
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| write_all(&cmd, &[], &dir)) {
            eprintln!("origuard man: {dir}: {e}");
            return 1;
        }
        return 0;
    }
    match page(&cmd, &[]) {
        Ok(p) => super::common::write_stdout(p.as_bytes(), "man"),
        Err(e) => {
            eprintln!("origuard man: {e}");
            1
        }
    }
}

/// Writes the page of `cmd` and of every visible subcommand, recursively.
/// `path` is the command words above `cmd` (`["policy"]` for `diff`).
fn write_all(cmd: &clap::Command, path: &[&str], dir: &str) -> std::io::Result<()> {
    let mut words: Vec<&str> = path.to_vec();
    words.push(cmd.get_name());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_all(sub, &words, dir)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let file = std::path::Path::new(dir).join(man.get_filename());
    std::fs::write(file, page(cmd, path)?)
}

/// One page: clap's rendering with EXIT STATUS and ENVIRONMENT added
/// before VERSION (or at the end).
fn page(cmd: &clap::Command, path: &[&str]) -> std::io::Result<String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let mut words: Vec<&str> = path.iter().skip(1).copied().collect();
    if !path.is_empty() {
        words.push(cmd.get_name());
    }
    let extra = format!("{}{}", exit_status(&words), environment(&words));
    Ok(match text.find("\n.SH VERSION") {
        Some(i) => format!("{}\n{}{}", &text[..i], extra.trim_end(), &text[i..]),
        None => format!("{text}{extra}"),
    })
}

/// A roff section: a heading and tagged paragraphs.
fn section(title: &str, items: &[(&str, &str)]) -> String {
    let mut s = format!(".SH \"{title}\"\n");
    for (tag, text) in items {
        s.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(tag), esc(text)));
    }
    s
}

/// Escapes what roff would read as a request or an escape.
fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('-', "\\-");
    match s.strip_prefix(['.', '\'']) {
        Some(_) => format!("\\&{s}"),
        None => s,
    }
}

/// The exit codes of the command `words` (after `origuard`; empty for the
/// main page): the shared table of README, with each command's own.
fn exit_status(words: &[&str]) -> String {
    let mut items: Vec<(&str, &str)> = vec![("0", "Success.")];
    match words {
        ["serve", ..] => items.extend([
            ("1", "A run-time failure: a port that cannot be bound, the audit log cannot be opened, shutdown failed; with --check, the audit log's directory does not accept a file."),
            ("64", "The configuration, or a file it names (policy, list, TLS, token, shadow policy), is wrong. serve --check names every problem it finds before exiting."),
            ("65", "The audit log does not verify under on_corrupt = \"refuse\", or the court-order ledger cannot be read: an operator must look (the systemd unit does not restart on it)."),
        ]),
        ["policy", "diff", ..] => items.extend([
            ("1", "A policy is invalid (its errors are printed with file and line)."),
            ("2", "A file cannot be read, or the capture (with --capture) cannot be used."),
            ("3", "With --exit-code: the policies (or, with --capture, some outcome) differ."),
            ("64", "Bad usage."),
        ]),
        _ => items.extend([
            ("1", "The command's own negative result or a run-time failure: an invalid policy (policy check), a broken audit log (audit verify), messages missing (bench)."),
            ("2", "Input that cannot be read or used: a missing or unreadable file, a framing error in a capture, a policy refused by a command that uses it."),
            ("3", "policy diff --exit-code: the policies differ."),
            ("64", "Bad usage: unknown flags or values, conflicting options; for serve, anything wrong in the configuration."),
            ("65", "serve: the audit log does not verify under on_corrupt = \"refuse\", or the court-order ledger cannot be read."),
        ]),
    }
    section("EXIT STATUS", &items)
}

/// The environment variables the command `words` reads.
fn environment(words: &[&str]) -> String {
    let mut items: Vec<(&str, &str)> = vec![
        ("ORIGUARD_LOG", "Log filter (a tracing EnvFilter directive such as info or warn,origuard=debug); overrides [log] level and the default info."),
        ("NO_COLOR", "When set to anything but the empty string, text logs carry no colour codes even on a terminal (https://no-color.org). Without a terminal they never do."),
    ];
    if matches!(words, [] | ["serve", ..]) {
        items.push(("NOTIFY_SOCKET", "Set by systemd for Type=notify units: serve reports READY=1 once every link is bound, RELOADING=1 and STOPPING=1. Without it, nothing is sent."));
    }
    section("ENVIRONMENT", &items)
}
