//! `origuard report --audit PATH... --out DIR`: verifies the logs, then
//! writes `report.html`, `report.csv`, `report.json`, and the publication
//! shapes `by_month_and_key.csv` and `colorado.csv` (specs/report.md).
//! Exit 0; 1 when a log does not verify (the report is still written and
//! says so on its first line) unless `--allow-broken`; 2 an input that
//! cannot be read; 64 bad usage.

use crate::report::{self, html, publish, Mode, Options, Source};
use crate::tools::cli::ReportCli;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// An audit file, read as a stream (never whole) each time it is opened.
struct FileSource {
    path: PathBuf,
    name: String,
}

impl Source for FileSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::fs::File::open(&self.path)?))
    }
}

/// Builds the report and writes its three files into `out`.
pub fn write<S: Source>(
    inputs: &[S],
    opts: &Options,
    out: &Path,
) -> Result<(report::Report, publish::Published), String> {
    write_with(inputs, opts, out, &mut |_| {})
}

/// [`write`], reporting bytes read to `progress`.
fn write_with<S: Source>(
    inputs: &[S],
    opts: &Options,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<(report::Report, publish::Published), String> {
    let r = report::build_with(inputs, opts, progress);
    let p = publish::publish_with(
        &r,
        opts.mode,
        &crate::runtime::audit_log::now(),
        &opts.small_cells,
    );
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let json = serde_json::to_string_pretty(&p).unwrap_or_default();
    for (name, body) in [
        ("report.html", html::render(&p)),
        ("report.csv", publish::csv(&p)),
        ("report.json", json + "\n"),
        ("by_month_and_key.csv", publish::csv_by_month_and_key(&p)),
        ("colorado.csv", publish::csv_colorado(&p)),
    ] {
        std::fs::write(out.join(name), body)
            .map_err(|e| format!("{}: {e}", out.join(name).display()))?;
    }
    Ok((r, p))
}

/// The small-cell thresholds (`--exact`, `--small-cell`; bad usage: 64)
/// and the previous report's checkpoints (`--previous`; unreadable: 2).
fn report_settings(
    a: &ReportCli,
) -> Result<
    (
        report::small_cells::SmallCells,
        Vec<crate::audit::checkpoint::Checkpoint>,
    ),
    (u8, String),
> {
    let mut small = report::small_cells::SmallCells::default();
    for t in &a.exact {
        small
            .set_table(t, 0)
            .map_err(|e| (super::common::EX_USAGE, format!("--exact {t:?}: {e}")))?;
    }
    for spec in &a.small_cell {
        small
            .set(spec)
            .map_err(|e| (super::common::EX_USAGE, format!("--small-cell: {e}")))?;
    }
    let previous = match &a.previous {
        None => Vec::new(),
        Some(p) => std::fs::read(p)
            .map_err(|e| e.to_string())
            .and_then(|d| {
                report::consistency::previous_checkpoints(&d)
                    .map_err(|e| format!("not a report.json written by origuard report: {e}"))
            })
            .map_err(|e| (super::common::EX_INPUT, format!("--previous {p}: {e}")))?,
    };
    Ok((small, previous))
}

/// The audit files named, each with its size in all (for the progress
/// bar); an unreadable input is exit 2.
fn inputs(a: &ReportCli) -> Result<(Vec<FileSource>, u64), String> {
    let files = crate::tools::audit_files::audit_files(&a.audit)?;
    let mut inputs = Vec::new();
    let mut total = 0u64;
    for f in &files {
        let m = std::fs::File::open(f)
            .and_then(|h| h.metadata())
            .map_err(|e| format!("{}: {e}", f.display()))?;
        total += m.len();
        inputs.push(FileSource {
            path: f.clone(),
            name: f.display().to_string(),
        });
    }
    Ok((inputs, total))
}

/// A progress bar over `total` bytes on a terminal; hidden otherwise.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(total);
    if let Ok(s) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)  {msg}",
    ) {
        b.set_style(s.progress_chars("=> "));
    }
    b.set_message("verifying and counting");
    b
}

/// The report's options from the command line; (exit code, message) when
/// one is refused.
fn options(a: &ReportCli) -> Result<Options, (u8, String)> {
    let families = match &a.policy {
        Some(p) => match crate::runtime::policy_store::load_path(p) {
            Ok(p) => report::Family::of_policy(&p),
            Err(e) => {
                return Err((
                    super::common::EX_INPUT,
                    format!("{e}\noriguard report: policy {p} refused"),
                ))
            }
        },
        None => Vec::new(),
    };
    let (small_cells, previous) = report_settings(a)?;
    Ok(Options {
        mode: if a.internal {
            Mode::Internal
        } else {
            Mode::Public
        },
        period: a.period,
        from: a.from.clone(),
        to: a.to.clone(),
        families,
        small_cells,
        previous,
    })
}

/// Runs the command.
pub fn command(a: ReportCli) -> u8 {
    let (inputs, total) = match inputs(&a) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("origuard report: {e}");
            return super::common::EX_INPUT;
        }
    };
    let opts = match options(&a) {
        Ok(o) => o,
        Err((code, e)) => {
            eprintln!("origuard report: {e}");
            return code;
        }
    };
    let bar = progress_bar(total);
    let mut pending = 0u64;
    let mut progress = |n: u64| {
        pending += n;
        if pending >= 1 << 20 {
            bar.inc(pending);
            pending = 0;
        }
    };
    let r = match write_with(&inputs, &opts, Path::new(&a.out), &mut progress) {
        Ok((r, _)) => r,
        Err(e) => {
            eprintln!("origuard report: {e}");
            return 1;
        }
    };
    drop(inputs);
    bar.finish_and_clear();
    outcome(&a, &r, opts.mode)
}

/// Says where the report is, or that a log does not verify; the exit code.
fn outcome(a: &ReportCli, r: &report::Report, mode: Mode) -> u8 {
    let where_ = Path::new(&a.out).join("report.html");
    if r.intact {
        let line = format!(
            "origuard report: {} decisions from {} intact log(s); {} report written to {}",
            r.decisions,
            r.logs.len(),
            if mode == Mode::Public {
                "public"
            } else {
                "internal"
            },
            where_.display()
        );
        return super::common::print_line(&line, "report");
    }
    eprintln!(
        "origuard report: WARNING: an audit log does not verify; the report says so on its first line: {}",
        where_.display()
    );
    for n in r
        .notices
        .iter()
        .filter(|n| n.kind == "broken" || n.kind == "gap")
    {
        eprintln!("  {}", n.text);
    }
    if a.allow_broken {
        0
    } else {
        1
    }
}
