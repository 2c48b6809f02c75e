//! `origuard audit export`: evidence for investigators. The decisions of one
//! log about the agencies (ORIs), families (lists) and dates asked for,
//! counted per ORI, family and date, each with its record line and its
//! inclusion proof (RFC 9162) against the log's last signed checkpoint, so
//! that each can be checked without the log and without trusting origuard
//! (`scripts/verify-consistency.py export FILE --public-key KEY`).
//!
//! No subject data: decision records hold header metadata and policy facts
//! only (`specs/audit.md`); a record that names a court order carries no
//! control field. Two streaming passes over the log: the first verifies it
//! and picks the decisions, the second hashes the subtrees their proofs
//! need (O(k log n) memory for k decisions).

use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::{leaf_hash, path_ranges, RangeHashes};
use crate::audit::verify::{verify_file, Chain, ChainOptions};
use crate::tools::audit_files::{whole_log, LogFiles};
use crate::tools::common::EX_INPUT;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format's name and version (first member of the export).
pub const FORMAT: &str = "origuard-export-v1";

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Counterparty ORIs (empty: any).
    pub ori: Vec<String>,
    /// Lists (`none`: no list; empty: any).
    pub list: Vec<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    pub to: Option<String>,
}

/// The export (one JSON document).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Export {
    /// [`FORMAT`].
    pub format: String,
    /// The log's id.
    pub log_id: String,
    /// The checkpoint every proof is against (signed when the log is).
    pub checkpoint: Checkpoint,
    /// Decisions per ORI, family and date.
    pub counts: Vec<Count>,
    /// Each decision, with its proof.
    pub decisions: Vec<Entry>,
    /// Matching decisions written after the checkpoint: not provable yet.
    pub after_checkpoint: u64,
}

/// Decisions about one agency by one family on one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// Counterparty ORI.
    pub ori: String,
    /// Deciding list, or `none`.
    pub list: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Decisions.
    pub decisions: u64,
}

/// One decision and its inclusion proof.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Its `seq`: the leaf index.
    pub seq: u64,
    /// Counterparty ORI.
    pub ori: String,
    /// Deciding list, or `none`.
    pub list: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The record line, as written (its own hash inside).
    pub record: String,
    /// Sibling hashes from the leaf up to the checkpoint's root (hex).
    pub audit_path: Vec<String>,
}

#[derive(Deserialize)]
struct Rec {
    ts: String,
    kind: String,
    #[serde(default)]
    counterparty_ori: Option<String>,
    #[serde(default)]
    list: Option<String>,
}

/// Builds the export of the log in `paths`.
pub fn export(paths: &[String], f: &Filter) -> Result<Export, (u8, String)> {
    let log = whole_log(paths, "export one log at a time")?;
    let (picked, cp) = pick(&log, f)?;
    let Some(cp) = cp else {
        return Err((
            1,
            "the log has no checkpoint: nothing to prove against".into(),
        ));
    };
    let (mut entries, after): (Vec<Entry>, Vec<Entry>) =
        picked.into_iter().partition(|e| e.seq < cp.tree_size);
    paths_for(&log, &mut entries, cp.tree_size)?;
    let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for e in &entries {
        *counts
            .entry((e.ori.clone(), e.list.clone(), e.date.clone()))
            .or_default() += 1;
    }
    Ok(Export {
        format: FORMAT.into(),
        log_id: cp.log_id.clone(),
        checkpoint: cp,
        counts: counts
            .into_iter()
            .map(|((ori, list, date), decisions)| Count {
                ori,
                list,
                date,
                decisions,
            })
            .collect(),
        decisions: entries,
        after_checkpoint: after.len() as u64,
    })
}

/// First pass: verifies the log and picks the matching decisions; the
/// log's last checkpoint.
fn pick(log: &LogFiles, f: &Filter) -> Result<(Vec<Entry>, Option<Checkpoint>), (u8, String)> {
    let mut chain = Chain::new(ChainOptions::default());
    let mut picked = Vec::new();
    for (path, _) in &log.files {
        let file = std::fs::File::open(path)
            .map_err(|e| (EX_INPUT, format!("{}: cannot read: {e}", path.display())))?;
        verify_file(&mut chain, file, |g, line| {
            if let Some(e) = matching(g.seq, line, f) {
                picked.push(e);
            }
        })
        .map_err(|e| {
            (
                1,
                format!("{}: {e}; no export from a broken log", path.display()),
            )
        })?;
    }
    Ok((picked, chain.last_checkpoint().cloned()))
}

/// The entry of a decision record the filter selects.
fn matching(seq: u64, line: &[u8], f: &Filter) -> Option<Entry> {
    if !line.starts_with(b"{\"seq\":")
        || memchr::memmem::find(line, b"\"kind\":\"decision\"").is_none()
    {
        return None;
    }
    let r: Rec = serde_json::from_slice(line).ok()?;
    let date = r.ts.get(..10)?.to_string();
    let ori = r.counterparty_ori.unwrap_or_else(|| "unknown".into());
    let list = r.list.unwrap_or_else(|| "none".into());
    let keep = r.kind == "decision"
        && (f.ori.is_empty() || f.ori.contains(&ori))
        && (f.list.is_empty() || f.list.contains(&list))
        && f.from.as_deref().is_none_or(|x| date.as_str() >= x)
        && f.to.as_deref().is_none_or(|x| date.as_str() <= x);
    keep.then(|| Entry {
        seq,
        ori,
        list,
        date,
        record: String::from_utf8_lossy(line).into_owned(),
        audit_path: Vec::new(),
    })
}

/// Second pass: the audit path of every entry in a tree of `size` leaves.
fn paths_for(log: &LogFiles, entries: &mut [Entry], size: u64) -> Result<(), (u8, String)> {
    let ranges = entries
        .iter()
        .flat_map(|e| path_ranges(e.seq, size))
        .collect();
    let mut hashes = RangeHashes::new(ranges);
    let mut chain = Chain::new(ChainOptions::default());
    for (path, _) in &log.files {
        let file = std::fs::File::open(path)
            .map_err(|e| (EX_INPUT, format!("{}: cannot read: {e}", path.display())))?;
        verify_file(&mut chain, file, |g, _| {
            if g.seq < size {
                hashes.feed(g.seq, leaf_hash(&g.hash));
            }
        })
        .map_err(|e| (1, format!("{}: {e}", path.display())))?;
    }
    for e in entries.iter_mut() {
        let path: Option<Vec<String>> = path_ranges(e.seq, size)
            .iter()
            .map(|r| hashes.get(*r).map(hex::encode))
            .collect();
        e.audit_path = path.ok_or((
            1,
            "the log changed while it was read; try again".to_string(),
        ))?;
    }
    Ok(())
}

/// Runs `audit export`.
pub fn command(paths: &[String], f: &Filter, out: Option<&str>) -> u8 {
    match export(paths, f) {
        Ok(x) => {
            let text = serde_json::to_string_pretty(&x).unwrap_or_default() + "\n";
            let written = match out {
                Some(o) => std::fs::write(o, text).map_err(|e| format!("{o}: {e}")),
                None => match super::common::write_stdout(text.as_bytes(), "audit export") {
                    0 => Ok(()),
                    _ => return 1,
                },
            };
            if let Err(e) = written {
                eprintln!("origuard audit export: {e}");
                return 1;
            }
            eprintln!(
                "origuard audit export: {} decisions with proofs against checkpoint {} (size {}){}",
                x.decisions.len(),
                &x.checkpoint.root[..12.min(x.checkpoint.root.len())],
                x.checkpoint.tree_size,
                if x.after_checkpoint > 0 {
                    format!(
                        "; {} more after it, not provable until the next checkpoint",
                        x.after_checkpoint
                    )
                } else {
                    String::new()
                }
            );
            0
        }
        Err((code, e)) => {
            eprintln!("origuard audit export: {e}");
            code
        }
    }
}
