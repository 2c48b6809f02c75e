//! `origuard filter`: the proxy's decision, offline, over a capture.
//! Writes what would be forwarded, the decline replies and the audit records,
//! and prints a summary whose counts always add up.

use crate::audit::record::{DecisionRecord, Event};
use crate::capture::stream::{open_output, FrameWriter, InputFraming, ReadError};
use crate::decision::counts::Counts;
use crate::decision::ledger::{Ledger, MemoryStore};
use crate::decision::{decide_in, Context, Outcome};
use crate::message::Direction;
use crate::message::Limits;
use crate::policy::Policy;
use crate::runtime::audit_log::{AuditError, AuditLog, SyncMode};
use std::io::Write;

/// Arguments of a filter run.
pub struct FilterArgs<'a> {
    /// The loaded policy.
    pub policy: &'a Policy,
    /// Direction of the capture.
    pub direction: Direction,
    /// Input framing.
    pub framing: InputFraming,
    /// From a pcap: which flows (those in `direction`) and messages.
    pub select: crate::capture::select::Select,
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
pub fn filter_capture(a: &FilterArgs<'_>) -> (Counts, Option<FilterError>) {
    let mut sum = Counts::default();
    let err = run_inner(a, &mut sum).err();
    (sum, err)
}

// Long: open, decide every message, then close the outputs and log whatever the loop returned.
fn run_inner(a: &FilterArgs<'_>, sum: &mut Counts) -> Result<(), FilterError> {
    let limits = Limits {
        max_text: a.max_message,
        ..Limits::default()
    };
    let audit = match a.audit {
        Some(path) => {
            let (log, _) = AuditLog::open(path, SyncMode::Batch)?;
            log.append(&Event::policy_load(
                true,
                &a.policy.version,
                &a.policy.source,
                "cli",
                0,
            ))?;
            Some(log)
        }
        None => None,
    };
    let mut reader =
        crate::capture::source::Source::open(a.input, a.framing, &a.select, a.max_message)?;
    let mut out: Option<FrameWriter<Box<dyn Write>>> = None;
    let mut replies: Option<FrameWriter<Box<dyn Write>>> = None;
    // Court-order uses within this run (a capture replayed offline uses
    // no one's order for real).
    let ledger = Ledger::new(
        Some(std::sync::Arc::new(MemoryStore::default())),
        a.policy.court_order_window,
        std::time::SystemTime::UNIX_EPOCH,
    );
    let result = (|| -> Result<(), FilterError> {
        while let Some(item) = reader.next_message() {
            let raw = item?;
            let framing = reader.framing();
            let cx = Context {
                now: std::time::SystemTime::now(),
                ledger: Some(&ledger),
            };
            let d = decide_in(a.direction, raw, a.policy, &limits, &cx);
            sum.add(&d, a.policy);
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

/// `origuard filter`: exit 0; 2 on an input error (capture or policy
/// missing, unreadable or refused; a framing error); 64 on bad usage.
pub fn command(c: crate::tools::cli::FilterCli) -> u8 {
    if let Err(e) = super::common::readable(&c.policy) {
        eprintln!("origuard filter: policy {e}");
        return super::common::EX_INPUT;
    }
    let p = match crate::runtime::policy_store::load_path(&c.policy) {
        Ok(p) => p,
        Err(r) => {
            eprintln!("{r}");
            eprintln!("origuard filter: policy {} refused", c.policy);
            return super::common::EX_INPUT;
        }
    };
    let args = FilterArgs {
        policy: &p,
        direction: c.direction,
        framing: c.framing,
        select: c.pcap.select(Some(c.direction)),
        max_message: c.max_message,
        input: &c.input,
        output: &c.output,
        replies: c.replies.as_deref(),
        audit: c.audit.as_deref(),
    };
    let (sum, err) = filter_capture(&args);
    if c.json {
        eprintln!("{}", summary_json(&p, &c, &sum, err.as_ref()));
        return if err.is_some() { 2 } else { 0 };
    }
    eprintln!(
        "origuard filter: policy {} ({}), direction {}",
        p.short_version(),
        c.policy,
        c.direction.name()
    );
    eprint!("{}", sum.render());
    match err {
        None => 0,
        Some(e) => {
            eprintln!("origuard filter: stopped: {e}");
            2
        }
    }
}

/// `filter --json`: the summary as one object. `received` is always the
/// sum of `passed`, `redacted`, `denied` and `dropped`; `error` is the
/// framing or input error that stopped the run (counts up to it), or null.
fn summary_json(
    p: &crate::policy::Policy,
    c: &crate::tools::cli::FilterCli,
    sum: &Counts,
    err: Option<&FilterError>,
) -> serde_json::Value {
    serde_json::json!({
        "policy": { "file": c.policy, "version": p.version },
        "direction": c.direction.name(),
        "received": sum.received,
        "passed": sum.passed,
        "redacted": sum.redacted,
        "denied": sum.denied,
        "dropped": sum.dropped,
        "replies": sum.replies,
        "fields_removed": sum.fields,
        "drop_reasons": sum.drop_reasons,
        "fail_open": sum.fail_open,
        "error": err.map(|e| e.to_string()),
    })
}
