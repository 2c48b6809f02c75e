//! Finding a log's files: the audit files a path names (a file, or a
//! directory's files that start like an audit log, not those kept aside),
//! grouped by the log their first line names and ordered by first record.
//! `audit verify | prove | export` and `origuard report` use it.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One log's files, in chain order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFiles {
    /// The log's id (or `unknown (PATH)` when the first line does not say).
    pub log_id: String,
    /// Path and first record of each file.
    pub files: Vec<(PathBuf, u64)>,
}

/// The log id and first `seq` of a file, from its first line (a segment
/// header or `log_start`); reads at most 64 KiB.
fn first_line(p: &Path) -> Option<(String, u64)> {
    let mut head = vec![0u8; 64 << 10];
    let mut f = std::fs::File::open(p).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    let line = &head[..memchr::memchr(b'\n', &head[..n])?];
    crate::audit::verify::first_line_ids(line)
}

/// True when the file starts like an audit log (a record or a segment header).
pub fn looks_like_audit(p: &Path) -> bool {
    let mut head = [0u8; 64];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let h = &head[..n];
    h.starts_with(b"{\"seq\":") || h.starts_with(b"{\"kind\":\"segment\"")
}

/// Files kept aside are outside the chain; temporary files are not logs.
fn skipped_in_directory(name: &str) -> bool {
    name.contains(".broken-") || name.contains(".aside-") || name.ends_with(".tmp")
}

/// The files named: a file as given, a directory's audit files (not those
/// kept aside).
pub fn audit_files(paths: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let path = Path::new(p);
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| format!("{p}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && !f
                            .file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(skipped_in_directory)
                        && looks_like_audit(f)
                })
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{p}: no audit log files in this directory"));
            }
            out.extend(found);
        } else if path.is_file() {
            out.push(path.to_path_buf());
        } else {
            return Err(format!("{p}: no such file or directory"));
        }
    }
    Ok(out)
}

/// Groups files by the log their first line names, each log's files in
/// order of their first record (ties: by name). Files whose first line
/// names no log are each a log of their own.
pub fn log_files(files: Vec<PathBuf>) -> Vec<LogFiles> {
    let mut logs: Vec<LogFiles> = Vec::new();
    for f in files {
        let (id, first) =
            first_line(&f).unwrap_or_else(|| (format!("unknown ({})", f.display()), 0));
        match logs.iter_mut().find(|l| l.log_id == id) {
            Some(l) => l.files.push((f, first)),
            None => logs.push(LogFiles {
                log_id: id,
                files: vec![(f, first)],
            }),
        }
    }
    for l in &mut logs {
        l.files.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    }
    logs
}

/// The one log in `paths`, every record from 0, for a command that proves
/// records against a checkpoint (`audit prove`, `audit export`): input
/// errors (exit code 2) when the files hold more than one log (`one` says
/// what to give instead) or the earliest file starts after record 0.
pub fn whole_log(paths: &[String], one: &str) -> Result<LogFiles, (u8, String)> {
    use crate::tools::common::EX_INPUT;
    let files = audit_files(paths).map_err(|e| (EX_INPUT, e))?;
    let mut logs = log_files(files);
    if logs.len() != 1 {
        return Err((
            EX_INPUT,
            format!("the files given hold {} logs; {one}", logs.len()),
        ));
    }
    let log = logs.remove(0);
    if log.files.first().is_some_and(|f| f.1 > 0) {
        return Err((EX_INPUT, "proofs need every record from 0: the earliest file given starts later (give every segment)".into()));
    }
    Ok(log)
}
