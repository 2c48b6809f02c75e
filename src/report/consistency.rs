//! Checkable from outside: each report carries, per log, a consistency
//! proof (RFC 9162, 2.1.4) from the signed checkpoint the previous report
//! published to the one this report publishes, so anyone holding the two
//! `report.json` files (and the log's public key) can check that the log
//! was only appended to between them — without the log
//! (`scripts/verify-consistency.py consistency PREVIOUS CURRENT`).
//!
//! The proof is computed from the log's files as the report reads them (a
//! second streaming pass over the log, O(log n) memory) and checked here
//! before it is published: a log rewritten below the previous checkpoint
//! gives a proof that does not verify, and the report says so.

use super::{LogCheck, Source};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle::{consistency_ranges, leaf_hash, verify_consistency, Hash, RangeHashes};
use crate::audit::verify::{verify_file, Chain, ChainOptions};
use serde::{Deserialize, Serialize};

/// One log's step from the previous report to this one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// The log's id.
    pub log_id: String,
    /// The checkpoint the previous report published (signed).
    pub previous: Checkpoint,
    /// The checkpoint this report publishes (its `logs[].last_checkpoint`).
    pub current: Option<Checkpoint>,
    /// The subtree hashes of the proof, in RFC 9162 order (hex).
    pub proof: Vec<String>,
    /// origuard checked the proof against both roots.
    pub verified: bool,
    /// Why there is no proof, or why it does not verify.
    pub problem: Option<String>,
    /// The log was not only appended to: its records no longer give the
    /// previous checkpoint's root, or it covers fewer records.
    pub tampered: bool,
}

/// Why a log has no consistency proof in this report.
#[derive(Debug, thiserror::Error)]
pub enum NoProof {
    /// The report does not cover that log.
    #[error("this report does not cover that log")]
    NotCovered,
    /// The log has no checkpoint here.
    #[error("the log has no checkpoint in this report")]
    NoCheckpoint,
    /// The log shrank.
    #[error(
        "the previous checkpoint covers {old} records, this one only {new}: records were removed"
    )]
    Shrunk {
        /// Previous size.
        old: u64,
        /// This size.
        new: u64,
    },
    /// Retention deleted the first segments.
    #[error("the earliest file of the log was not given (retention?): no proof")]
    EarlyFilesMissing,
    /// A file could not be read again, or no longer verifies.
    #[error("{file}: {what}")]
    File {
        /// The file.
        file: String,
        /// What went wrong.
        what: String,
    },
    /// Fewer records than the checkpoint covers.
    #[error("the log holds fewer records than this report's checkpoint")]
    TooFew,
    /// A root is not 64 hex digits.
    #[error("a checkpoint's root is not 64 hex digits")]
    BadRoot,
    /// The records no longer give the previous root.
    #[error("REWRITTEN: the log's first {0} records no longer give the previous checkpoint's root: the log was not only appended to")]
    Rewritten(u64),
}

impl NoProof {
    /// True when the log was changed below what was published.
    pub fn tampered(&self) -> bool {
        matches!(self, NoProof::Shrunk { .. } | NoProof::Rewritten(_))
    }
}

/// The checkpoints a published `report.json` carries (`logs[].last_checkpoint`).
pub fn previous_checkpoints(report_json: &[u8]) -> Result<Vec<Checkpoint>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Log {
        last_checkpoint: Option<Checkpoint>,
    }
    #[derive(Deserialize)]
    struct Report {
        logs: Vec<Log>,
    }
    let r: Report = serde_json::from_slice(report_json)?;
    Ok(r.logs
        .into_iter()
        .filter_map(|l| l.last_checkpoint)
        .collect())
}

/// For every checkpoint of the previous report: the proof from it to this
/// report's last checkpoint of the same log, computed from `inputs`.
pub fn prove<S: Source>(
    inputs: &[S],
    logs: &[LogCheck],
    previous: &[Checkpoint],
) -> Vec<Consistency> {
    previous
        .iter()
        .map(|old| {
            let log = logs.iter().find(|l| l.log_id == old.log_id);
            let current = log.and_then(|l| l.last_checkpoint.clone());
            let mut c = Consistency {
                log_id: old.log_id.clone(),
                previous: old.clone(),
                current: current.clone(),
                proof: Vec::new(),
                verified: false,
                problem: None,
                tampered: false,
            };
            let proof = match (log, current) {
                (None, _) => Err(NoProof::NotCovered),
                (Some(_), None) => Err(NoProof::NoCheckpoint),
                (Some(log), Some(new)) => one(inputs, log, old, &new),
            };
            match proof {
                Ok(proof) => {
                    c.proof = proof.iter().map(hex::encode).collect();
                    c.verified = true;
                }
                Err(e) => {
                    c.tampered = e.tampered();
                    c.problem = Some(e.to_string());
                }
            }
            c
        })
        .collect()
}

/// The proof from `old` to `new` over the log's files, checked.
fn one<S: Source>(
    inputs: &[S],
    log: &LogCheck,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<Vec<Hash>, NoProof> {
    let (m, n) = (old.tree_size, new.tree_size);
    if m > n {
        return Err(NoProof::Shrunk { old: m, new: n });
    }
    if log.files.first().is_some_and(|f| f.first_seq > 0) {
        return Err(NoProof::EarlyFilesMissing);
    }
    let file = |f: &str, what: String| NoProof::File {
        file: f.to_string(),
        what,
    };
    let ranges = consistency_ranges(m, n);
    let mut hashes = RangeHashes::new(ranges.clone());
    let mut chain = Chain::new(ChainOptions::default());
    for f in &log.files {
        let src = inputs
            .iter()
            .find(|s| s.name() == f.path)
            .ok_or_else(|| file(&f.path, "not among the inputs".into()))?;
        let r = src.open().map_err(|e| file(&f.path, e.to_string()))?;
        verify_file(&mut chain, r, |g, _| {
            if g.seq < n {
                hashes.feed(g.seq, leaf_hash(&g.hash));
            }
        })
        .map_err(|e| file(&f.path, e.to_string()))?;
    }
    let proof: Option<Vec<Hash>> = ranges.iter().map(|r| hashes.get(*r)).collect();
    let proof = proof.ok_or(NoProof::TooFew)?;
    let unhex = |x: &str| -> Option<Hash> {
        let mut b = [0u8; 32];
        hex::decode_to_slice(x, &mut b).ok().map(|_| b)
    };
    let (Some(a), Some(b)) = (unhex(&old.root), unhex(&new.root)) else {
        return Err(NoProof::BadRoot);
    };
    if !verify_consistency(m, n, &a, &b, &proof) {
        return Err(NoProof::Rewritten(m));
    }
    Ok(proof)
}
