//! `origuard filter`: the proxy's decision, offline, over a capture.
//! Writes what would be forwarded, the decline replies and the audit records,
//! and prints a summary whose counts always add up.

use super::stream::{open_input, open_output, FrameReader, FrameWriter, InputFraming, ReadError};
use crate::audit::record::{DecisionRecord, Event};
use crate::audit::writer::{AuditError, AuditLog, SyncMode};
use crate::decision::{decide, Category, Outcome};
use crate::message::Limits;
use crate::policy::explain::Direction;
use crate::policy::Policy;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

/// Counts of a run. `received == passed + redacted + denied + dropped`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Messages read.
    pub received: u64,
    /// Forwarded unchanged.
    pub passed: u64,
    /// Forwarded after redaction.
    pub redacted: u64,
    /// Fields removed, by field name.
    pub fields: BTreeMap<String, u64>,
    /// Denied.
    pub denied: u64,
    /// Decline replies written.
    pub replies: u64,
    /// Dropped.
    pub dropped: u64,
    /// Dropped, by reason (and detail).
    pub drop_reasons: BTreeMap<String, u64>,
    /// Passed although unparseable or of unknown counterparty (fail-open), by reason.
    pub fail_open: BTreeMap<String, u64>,
}

impl Summary {
    /// Adds one decision.
    pub fn count(&mut self, d: &crate::decision::Decision, p: &Policy) {
        self.received += 1;
        match d.category {
            Category::Passed => {
                self.passed += 1;
                if d.reason.ends_with("_pass") {
                    *self.fail_open.entry(d.reason.to_string()).or_default() += 1;
                }
            }
            Category::Redacted => {
                self.redacted += 1;
                for f in d.removed.iter() {
                    *self
                        .fields
                        .entry(p.catalogue.name(f).to_string())
                        .or_default() += 1;
                }
            }
            Category::Denied => self.denied += 1,
            Category::Dropped => {
                self.dropped += 1;
                let key = match d.detail {
                    Some(detail) => format!("{}:{detail}", d.reason),
                    None => d.reason.to_string(),
                };
                *self.drop_reasons.entry(key).or_default() += 1;
            }
        }
        if matches!(d.outcome, Outcome::Deny { reply: Some(_) }) {
            self.replies += 1;
        }
    }

    /// True when the counts add up.
    pub fn conserved(&self) -> bool {
        self.received == self.passed + self.redacted + self.denied + self.dropped
    }

    /// Human-readable table.
    pub fn render(&self) -> String {
        let map = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut s = String::new();
        let _ = writeln!(s, "received  {:>8}", self.received);
        let _ = writeln!(
            s,
            "passed    {:>8}{}",
            self.passed,
            if self.fail_open.is_empty() {
                String::new()
            } else {
                format!("  (fail-open: {})", map(&self.fail_open))
            }
        );
        let _ = writeln!(
            s,
            "redacted  {:>8}  (fields removed: {})",
            self.redacted,
            if self.fields.is_empty() {
                "none".into()
            } else {
                map(&self.fields)
            }
        );
        let _ = writeln!(
            s,
            "denied    {:>8}  ({} decline replies)",
            self.denied, self.replies
        );
        let _ = writeln!(
            s,
            "dropped   {:>8}{}",
            self.dropped,
            if self.drop_reasons.is_empty() {
                String::new()
            } else {
                format!("  ({})", map(&self.drop_reasons))
            }
        );
        let _ = writeln!(
            s,
            "check     received = passed + redacted + denied + dropped: {} = {} + {} + {} + {} ({})",
            self.received,
            self.passed,
            self.redacted,
            self.denied,
            self.dropped,
            if self.conserved() { "ok" } else { "MISMATCH" }
        );
        s
    }
}

/// Arguments of a filter run.
pub struct FilterArgs<'a> {
    /// The loaded policy.
    pub policy: &'a Policy,
    /// Direction of the capture.
    pub direction: Direction,
    /// Input framing.
    pub framing: InputFraming,
    /// Largest message accepted.
    pub max_message: usize,
    /// Input path (`-` = stdin).
    pub input: &'a str,
    /// Output path (`-` = stdout).
    pub output: &'a str,
    /// Decline replies path.
    pub replies: Option<&'a str>,
    /// Audit log path.
    pub audit: Option<&'a str>,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// Input could not be opened, read or split.
    #[error("input: {0}")]
    Input(#[from] ReadError),
    /// Output could not be written.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
    /// The audit log failed.
    #[error("{0}")]
    Audit(#[from] AuditError),
}

/// Runs the filter. On a framing error the summary so far is returned with
/// the error (what was decided before it is written).
pub fn run(a: &FilterArgs<'_>) -> (Summary, Option<FilterError>) {
    let mut sum = Summary::default();
    let err = run_inner(a, &mut sum).err();
    (sum, err)
}

fn run_inner(a: &FilterArgs<'_>, sum: &mut Summary) -> Result<(), FilterError> {
    let limits = Limits {
        max_text: a.max_message,
        ..Limits::default()
    };
    let audit = match a.audit {
        Some(path) => {
            let (log, _) = AuditLog::open(path, SyncMode::Batch)?;
            log.append(&Event::PolicyLoad {
                result: "applied",
                policy: a.policy.version.clone(),
                attempted: None,
                source: a.policy.source.clone(),
                trigger: "cli".into(),
                errors: 0,
            })?;
            Some(log)
        }
        None => None,
    };
    let mut reader = FrameReader::new(
        open_input(a.input).map_err(ReadError::Io)?,
        a.framing,
        a.max_message,
    );
    let mut out: Option<FrameWriter<Box<dyn Write>>> = None;
    let mut replies: Option<FrameWriter<Box<dyn Write>>> = None;
    let result = (|| -> Result<(), FilterError> {
        while let Some(item) = reader.next_message() {
            let raw = item?;
            let framing = reader.framing();
            let d = decide(a.direction, raw, a.policy, &limits);
            sum.count(&d, a.policy);
            if let Some(log) = &audit {
                log.append(&Event::Decision(Box::new(DecisionRecord::of(
                    &d,
                    a.direction,
                    a.policy,
                    None,
                ))))?;
            }
            match &d.outcome {
                Outcome::Forward(b) => {
                    if out.is_none() {
                        out = Some(FrameWriter::new(open_output(a.output)?, framing));
                    }
                    if let Some(w) = out.as_mut() {
                        w.write(b)?;
                    }
                }
                Outcome::Deny { reply: Some(r) } => {
                    if let Some(path) = a.replies {
                        if replies.is_none() {
                            replies = Some(FrameWriter::new(open_output(path)?, framing));
                        }
                        if let Some(w) = replies.as_mut() {
                            w.write(r)?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    })();
    // Always create the outputs (possibly empty) and flush what was decided.
    let out = match out {
        Some(w) => w,
        None => FrameWriter::new(open_output(a.output)?, reader.framing()),
    };
    out.finish()?;
    if let Some(path) = a.replies {
        let w = match replies {
            Some(w) => w,
            None => FrameWriter::new(open_output(path)?, reader.framing()),
        };
        w.finish()?;
    }
    if let Some(log) = audit {
        log.close()?;
    }
    result
}
