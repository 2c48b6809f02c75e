//! What a reader must know before any figure: policy changes, outages,
//! file events, recoveries, accountable changes, starts and stops, in
//! plain words.

use super::*;

pub(super) fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

// Long: one arm per kind of record, each with its plain words.
pub(super) fn notice_of(r: &Rec<'_>) -> Option<Notice> {
    let ts = Some(r.ts.to_string());
    let (kind, text) = match r.kind.as_ref() {
        "policy_load" => {
            let v = r.policy.as_deref().unwrap_or("");
            let trig = r.trigger.as_deref().unwrap_or("");
            if r.result.as_deref() == Some("applied") {
                ("policy_applied", format!("policy {} in force ({trig})", short(v)))
            } else {
                (
                    "policy_refused",
                    format!("a policy change was refused; {} stayed in force ({trig})", short(v)),
                )
            }
        }
        "audit_outage" => (
            "audit_outage",
            format!(
                "the audit log could not write from {} to {}: {} records held and written late, {} messages refused",
                r.since.as_deref().unwrap_or("?"),
                r.until.as_deref().unwrap_or("?"),
                r.held.unwrap_or(0),
                r.refused.unwrap_or(0)
            ),
        ),
        "file_event" => (
            "file_event",
            format!(
                "the audit file was {} while in use; a new file continued the chain",
                r.event.as_deref().unwrap_or("changed")
            ),
        ),
        "recovery" => (
            "recovery",
            format!(
                "restart after a crash: {} bytes of a half-written record cut off",
                r.truncated_bytes.unwrap_or(0)
            ),
        ),
        "segment_deleted" => (
            "file_event",
            format!(
                "retention deleted the segment {} (records {}..{}); its records are no longer in the log",
                r.file.as_deref().unwrap_or("?"),
                r.first_seq.unwrap_or(0),
                r.next_seq.unwrap_or(0).saturating_sub(1)
            ),
        ),
        // Accountable changes (signed orders and bundles): who did what.
        "order_entered" => (
            "order_entered",
            format!(
                "court order {} in force: entered by {}, approved by {}",
                r.order.as_deref().unwrap_or("?"),
                r.entered_by.as_deref().unwrap_or("?"),
                r.approvers.join(", ")
            ),
        ),
        "order_refused" | "bundle_refused" => (
            if r.kind == "order_refused" { "order_refused" } else { "bundle_refused" },
            format!(
                "{} ({}): {}",
                r.file.as_deref().unwrap_or("?"),
                r.trigger.as_deref().unwrap_or("?"),
                r.reason.as_deref().unwrap_or("")
            ),
        ),
        "admin_call" => (
            "admin_call",
            format!(
                "{} asked to {} on the admin endpoint: {}",
                r.identity.as_deref().unwrap_or("?"),
                r.action.as_deref().unwrap_or("?"),
                r.outcome.as_deref().unwrap_or("?")
            ),
        ),
        "signers_in_force" => (
            "signers_in_force",
            format!("allowed signers in force ({}): {}", r.file.as_deref().unwrap_or("?"), r.signers.join("; ")),
        ),
        "policy_signed" => (
            "policy_signed",
            format!(
                "signed policy bundle version {} by {}: {}",
                r.version.unwrap_or(0),
                r.author.as_deref().unwrap_or("?"),
                r.reason.as_deref().unwrap_or("")
            ),
        ),
        "lifecycle" => match r.what.as_deref() {
            Some("start") => ("start", "the proxy started".to_string()),
            Some("stop") => ("stop", "the proxy stopped".to_string()),
            _ => return None,
        },
        _ => return None,
    };
    Some(Notice {
        ts,
        kind: kind.into(),
        text,
    })
}
