//! What every command shares: the exit code for bad usage, logging set-up,
//! the tokio runtime, where the example policy is, and writing to a
//! standard output that may be a closed pipe.

/// Exit code for bad usage or configuration (BSD `EX_USAGE`).
pub const EX_USAGE: u8 = 64;
/// Exit code for input that cannot be read or used: a missing or
/// unreadable file, a framing or format error in a capture.
pub const EX_INPUT: u8 = 2;
/// Exit code for the command's own negative result or failure: an invalid
/// policy, a broken audit log, messages missing in a bench.
pub const EX_FAIL: u8 = 1;

/// `Err` with an operator message when `path` cannot be opened for reading
/// (missing, a directory, no permission): the caller exits [`EX_INPUT`]
/// before a parser turns the problem into a validation error.
pub fn readable(path: &str) -> Result<(), String> {
    let p = std::path::Path::new(path);
    if p.is_dir() {
        return Err(format!("{path}: is a directory, not a file"));
    }
    std::fs::File::open(p)
        .map(|_| ())
        .map_err(|e| format!("{path}: cannot read: {e}"))
}

/// The example policy and its list files, built into the binary so the demo
/// runs from an installed binary anywhere, not only from a checkout.
const EXAMPLE_POLICY: &[(&str, &str)] = &[
    (
        "colorado.toml",
        include_str!("../../deploy/policy/colorado.toml"),
    ),
    (
        "lists/immigration.txt",
        include_str!("../../deploy/policy/lists/immigration.txt"),
    ),
    (
        "lists/federal_redact.txt",
        include_str!("../../deploy/policy/lists/federal_redact.txt"),
    ),
];

/// The example policy: `deploy/policy/colorado.toml` under the working
/// directory when present (a checkout), else the built-in copy written into
/// `dir` (so its list files resolve beside it).
pub fn example_policy_path(dir: &std::path::Path) -> std::io::Result<String> {
    let local = "deploy/policy/colorado.toml";
    if std::path::Path::new(local).exists() {
        return Ok(local.to_string());
    }
    let base = dir.join("policy");
    for (name, text) in EXAMPLE_POLICY {
        let p = base.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, text)?;
    }
    Ok(base.join("colorado.toml").to_string_lossy().into_owned())
}

/// Logs to stderr through `tracing` (`ORIGUARD_LOG` overrides the level).
pub(crate) fn init_tracing(format: crate::runtime::config::LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORIGUARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::runtime::config::LogFormat::Json => b.json().try_init(),
        crate::runtime::config::LogFormat::Text => b.try_init(),
    };
}

/// Whether text logs are coloured: only on a terminal (never ANSI codes in
/// files, pipes or journald), and not when `NO_COLOR` is set to anything
/// but the empty string (<https://no-color.org>).
pub(crate) fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The multi-threaded tokio runtime the networked commands run on.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Writes `bytes` to standard output; a closed pipe is not an error.
pub(crate) fn write_stdout(bytes: &[u8], what: &str) -> u8 {
    use std::io::Write;
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

/// [`write_stdout`] of `line` and a newline; the exit code.
pub(crate) fn print_line(line: &str, what: &str) -> u8 {
    write_stdout(format!("{line}\n").as_bytes(), what)
}

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsStr;

    #[test]
    fn no_color_turns_colour_off_on_a_terminal() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }
}
