//! Audit record content and the line encoding of the hash chain.
//!
//! One JSON object per line. Every record carries `seq` (0, 1, 2, ...),
//! `ts` (UTC, RFC 3339 with milliseconds), `kind`, its fields, `prev` (the
//! previous record's hash; for the first record the SHA-256 of the anchor
//! string with the random log id) and, last, `hash`: the SHA-256 (hex) of the
//! line's bytes up to `,"hash":` with `}` appended. Pure: the time and
//! the log id are passed in by the writer. Records hold header
//! metadata and policy facts only — never a name, date of birth, license
//! number, address or image from a message body.

use super::merkle::Hash;
use crate::decision::Decision;
use crate::message::Direction;
use crate::policy::Policy;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Domain tag hashed with the log id to anchor the chain.
pub const ANCHOR_TAG: &str = "origuard-audit-v1\0";

/// The anchor `prev` of the first record.
pub fn anchor(log_id: &str) -> String {
    hex::encode(anchor_hash(log_id))
}

/// Who issued the court order `id` in force (`authority.issuer`), for the
/// decision records that name it; `unknown` when the policy does not say.
pub fn issuer_name(p: &Policy, id: &str) -> &'static str {
    p.exceptions
        .iter()
        .find(|e| &*e.id == id)
        .and_then(|e| e.issuer)
        .map_or("unknown", <&'static str>::from)
}

/// One decision, as audited.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DecisionRecord {
    /// Link name (proxy) or null (offline tools).
    pub link: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `legacy` or `xml` (null when the header did not parse).
    pub format: Option<&'static str>,
    /// Message key.
    pub mke: Option<String>,
    /// Key class.
    pub class: Option<&'static str>,
    /// Originating ORI.
    pub originating_ori: Option<String>,
    /// Destination ORIs / codes.
    pub destination_ori: Vec<String>,
    /// The counterparty the policy was evaluated on.
    pub counterparty_ori: Option<String>,
    /// Control field.
    pub control: Option<String>,
    /// Policy action applied (after key scope).
    pub action: Option<&'static str>,
    /// Counting category: passed, redacted, denied, dropped.
    pub category: &'static str,
    /// Reason code.
    pub reason: &'static str,
    /// Detail code (parse or redaction error), when any.
    pub detail: Option<&'static str>,
    /// Deciding list, when a list matched.
    pub list: Option<String>,
    /// Deciding entry, when a list matched.
    pub entry: Option<String>,
    /// Fields removed.
    pub fields_removed: Vec<String>,
    /// Bytes received.
    pub bytes_in: usize,
    /// Bytes forwarded.
    pub bytes_out: usize,
    /// Bytes of the decline reply sent, if any.
    pub reply_bytes: usize,
    /// Full policy version in force.
    pub policy: String,
    /// Court-order exception used (its id only, never the subject).
    pub exception: Option<String>,
    /// Which use of that exception (1-based).
    pub exception_use: Option<u32>,
    /// The order's approvers, as the policy names them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exception_approvers: Option<String>,
    /// Only in a record that names an order: who issued it
    /// (`authority.issuer`: `federal_judge`, `magistrate_judge`,
    /// `state_judge`; `unknown` when the order in force does not say), so
    /// reports can count releases by issuer kind.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exception_issuer: Option<&'static str>,
    /// A response to an order query: whom it showed (`match`, `mismatch`,
    /// `unidentified`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_subject: Option<&'static str>,
    /// A response to an order query: how many records it seemed to hold.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_records: Option<u32>,
    /// The query's reason code, one character, when it gave one.
    pub reason_code: Option<String>,
    /// The federal watch pattern an unlisted counterparty matches (it looks
    /// federal but is in no list), when one does.
    pub federal_watch: Option<String>,
}

impl DecisionRecord {
    /// Builds the record of a decision.
    pub fn of(d: &Decision, dir: Direction, p: &Policy, link: Option<&str>) -> DecisionRecord {
        let h = d.header.as_ref();
        DecisionRecord {
            link: link.map(str::to_string),
            direction: dir.name(),
            format: h.map(|h| h.format.name()),
            mke: h.map(|h| h.mke.to_string()),
            class: h.map(|h| h.class.name()),
            originating_ori: h.map(|h| h.originating.to_string()),
            destination_ori: h
                .map(|h| h.dests.as_slice().iter().map(|d| d.to_string()).collect())
                .unwrap_or_default(),
            counterparty_ori: d.counterparty.map(|o| o.to_string()),
            // A record that names an order never carries the requester's
            // control field: it could spell the subject.
            control: h
                .and_then(|h| h.control)
                .filter(|_| d.exception.is_none())
                .map(|c| c.to_string()),
            action: d.action.map(|a| a.name()),
            category: d.category.name(),
            reason: d.reason.name(),
            detail: d.detail,
            list: d.verdict.map(|v| p.list_name(v).to_string()),
            entry: d.verdict.map(|v| p.entry_text(v).to_string()),
            fields_removed: d
                .removed
                .iter()
                .map(|f| p.catalogue.name(f).to_string())
                .collect(),
            bytes_in: d.bytes_in,
            bytes_out: d.bytes_out,
            reply_bytes: match &d.outcome {
                crate::decision::Outcome::Deny { reply: Some(r) } => r.len(),
                _ => 0,
            },
            policy: p.version.clone(),
            exception: d.exception.as_ref().map(|u| u.id.to_string()),
            exception_use: d.exception.as_ref().map(|u| u.number),
            exception_approvers: d.exception.as_ref().map(|u| u.approvers.to_string()),
            exception_issuer: d.exception.as_ref().map(|u| issuer_name(p, &u.id)),
            order_subject: d.subject_check.map(|(c, _)| c.name()),
            order_records: d.subject_check.map(|(_, n)| n),
            reason_code: d.reason_code.map(|c| (c as char).to_string()),
            federal_watch: match (d.verdict, d.counterparty) {
                (None, Some(o)) => p.looks_federal(o.as_bytes()).map(str::to_string),
                _ => None,
            },
        }
    }
}

/// What a record says.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// First record of a log: its random identity.
    LogStart {
        /// Random 128-bit id (hex).
        log_id: String,
        /// origuard version that created the log.
        software: String,
    },
    /// A decision on a message.
    Decision(Box<DecisionRecord>),
    /// A policy load or reload attempt.
    PolicyLoad {
        /// `applied` or `refused`.
        result: &'static str,
        /// Version now in force.
        policy: String,
        /// Policy file.
        source: String,
        /// What triggered it: startup, sighup, file_watch, admin, cli.
        trigger: String,
        /// Number of errors (refused loads).
        errors: usize,
    },
    /// A signed court order came into force (at startup, or new or changed
    /// at a reload): who entered it and who approved it by signature.
    OrderEntered {
        /// The order's id.
        order: String,
        /// The order file.
        file: String,
        /// SHA-256 (hex) of the order file: the bytes signed.
        sha256: String,
        /// The principal who entered it.
        entered_by: String,
        /// The approvers' principals (distinct, sorted), each with key:
        /// `alice@co (SHA256:...)`.
        approvers: Vec<String>,
        /// Policy version it came in with.
        policy: String,
    },
    /// A court order was refused at a load (unsigned, under-signed,
    /// tampered, signed with an expired key, administrative): it is not in
    /// force; the orders in force before stay.
    OrderRefused {
        /// The order file.
        file: String,
        /// What is missing (the loader's message).
        reason: String,
        /// What triggered the load.
        trigger: String,
    },
    /// A policy came into force from a signed bundle (at startup, or a new
    /// manifest at a reload): who made it, why, which version.
    PolicySigned {
        /// Policy version (content hash) now in force.
        policy: String,
        /// SHA-256 (hex) of the manifest.
        manifest: String,
        /// Manifest version.
        version: u64,
        /// The author (verified signer) and key: `alice@co (SHA256:...)`.
        author: String,
        /// Ticket or reason.
        reason: String,
        /// When the manifest was made.
        time: String,
        /// The manifest it follows.
        previous: String,
    },
    /// A policy bundle was refused at a load (no manifest, unsigned, a file
    /// not as signed, a rollback): the policy in force stays.
    BundleRefused {
        /// The file concerned.
        file: String,
        /// What is wrong (the loader's message).
        reason: String,
        /// What triggered the load.
        trigger: String,
    },
    /// The `allowed_signers` file in force changed (or was first read, at
    /// startup): who may sign orders and policy bundles from now on.
    SignersInForce {
        /// The file.
        file: String,
        /// SHA-256 (hex) of its bytes.
        sha256: String,
        /// One line per key: `alice@co SHA256:… namespaces=…`.
        signers: Vec<String>,
        /// SHA-256 of the file before (null at startup).
        previous: Option<String>,
    },
    /// A state-changing call on the admin endpoint, by a named
    /// administrator (`[admin] token_file`).
    AdminCall {
        /// Who (the token file's principal; `shared-token` for the older
        /// single shared token).
        identity: String,
        /// `reload`, `reopen`, `shutdown`.
        action: String,
        /// `applied`, `refused` (the reload was refused), `denied` (the
        /// administrator lacks the scope).
        outcome: String,
    },
    /// The log was reopened after a crash and a torn tail was cut off.
    Recovery {
        /// Bytes of incomplete record removed.
        truncated_bytes: u64,
    },
    /// The process started or stopped writing to this log.
    Lifecycle {
        /// `start`, `stop`.
        what: &'static str,
    },
    /// Messages decided (records `seqs`) were written to the socket of
    /// `side` (the kernel accepted every byte). A decision without such a
    /// record was decided but not known to be delivered.
    Written {
        /// Link name.
        link: String,
        /// `nlets` or `switch`.
        side: &'static str,
        /// Sequence numbers of the decision records.
        seqs: Vec<u64>,
    },
    /// Messages decided (records `seqs`) that were not written: the peer was
    /// unreachable, stopped reading, or the session closed first.
    Undelivered {
        /// Link name.
        link: String,
        /// `nlets` or `switch`.
        side: &'static str,
        /// Sequence numbers of the decision records.
        seqs: Vec<u64>,
        /// Why: `upstream_unreachable`, `write_failed`, `session_closed`,
        /// `sessions_full`, `peer_sessions`, `pending_full`, `peer_pending`,
        /// `drain_deadline`, `unframeable`, `audit_failed`.
        reason: &'static str,
    },
    /// The wall clock moved by more than the monotonic clock allows (a
    /// step forward or back).
    ClockJump {
        /// What the wall clock should have said (the last reading plus the
        /// monotonic time since), UTC.
        expected: String,
        /// What it said.
        observed: String,
        /// `observed - expected`, in milliseconds (negative: a step back).
        jump_ms: i64,
    },
    /// The drain deadline stopped a reader that was still receiving: what
    /// it cut off (one record per reader still open at the deadline).
    DrainCut {
        /// Link name.
        link: String,
        /// `switch` or `nlets`: the peer that was still sending.
        side: &'static str,
        /// Complete messages found after the deadline, each decided and
        /// recorded `undelivered` (`drain_deadline`).
        declined: u64,
        /// Bytes read and not decided: a message still incomplete, or
        /// messages past the cap on what is declined.
        unread_bytes: u64,
        /// Bytes were still arriving when reading stopped (at the cap):
        /// what came after is neither decided nor counted.
        still_arriving: bool,
    },
    /// The audit log could not be written for a while and has recovered.
    AuditOutage {
        /// First failure (UTC).
        since: String,
        /// Recovery (UTC).
        until: String,
        /// The first error.
        error: String,
        /// Records held in memory and written at recovery: those not yet
        /// durable when the outage began and every one appended during it
        /// (their messages were held until then, or forwarded first when
        /// `on_failure = "restricted"` allowed it).
        held: u64,
        /// Appends refused while failing (their messages were not
        /// forwarded; the buffer for held records was full).
        refused: u64,
    },
    /// Something happened to the log file itself: it was truncated,
    /// deleted or replaced under us (noticed by the watch or a reopen), or a
    /// file that failed verification was kept aside. Writing continued in the file
    /// named by `file`.
    FileEvent {
        /// `truncated`, `deleted`, `replaced`, `kept_aside`, `resumed`.
        event: &'static str,
        /// The file now written.
        file: String,
        /// Where the previous content went, when it was moved aside.
        kept_aside: Option<String>,
        /// Details (the verification failure, for `kept_aside`).
        detail: Option<String>,
    },
    /// A signed checkpoint: the Merkle root of records `0..tree_size` (this
    /// record's `seq` is `tree_size`), signed with the log's key over
    /// [`crate::audit::checkpoint::Checkpoint::signed_bytes`] with this
    /// record's `ts` as the time.
    Checkpoint(super::checkpoint::CheckpointRecord),
    /// Retention removed a closed segment (every record in it older than
    /// `[audit] retain` and covered by a checkpoint written out).
    SegmentDeleted {
        /// The segment file removed.
        file: String,
        /// Its first record.
        first_seq: u64,
        /// The record after its last.
        next_seq: u64,
    },
}

/// First line of a file that continues a log begun in another file (after
/// rotation, truncation or deletion of the live file, or a file kept aside).
/// Not part of the hash chain: it states where the chain comes from, and
/// verification checks the record after it against it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Always `segment`.
    pub kind: String,
    /// The log's id (from its `log_start`).
    pub log_id: String,
    /// Sequence number of the first record in this file.
    pub next_seq: u64,
    /// Hash of the record before it (in the previous file), or the anchor.
    pub prev: String,
    /// Why a new file was started.
    pub reason: String,
    /// When (UTC).
    pub ts: String,
    /// The Merkle frontier of records `0..next_seq` (hex, largest subtree
    /// first), so a segment can be checked on its own against checkpoints.
    /// Absent in files written before audit log version 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<Vec<String>>,
}

impl SegmentHeader {
    /// The header line (with newline).
    pub fn line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

impl Event {
    /// A policy load attempt: `applied` with the version now in force, or
    /// refused with the version kept and the number of errors.
    pub fn policy_load(
        applied: bool,
        policy: &str,
        source: &str,
        trigger: &str,
        errors: usize,
    ) -> Event {
        Event::PolicyLoad {
            result: if applied { "applied" } else { "refused" },
            policy: policy.to_string(),
            source: source.to_string(),
            trigger: trigger.to_string(),
            errors,
        }
    }
}

impl Event {
    /// The audit records of a load for signed court orders: an
    /// `order_entered` for each order in `new` whose file was not in force
    /// with the same bytes in `old` (all of them at startup).
    pub fn orders_entered(
        old: Option<&crate::policy::Policy>,
        new: &crate::policy::Policy,
    ) -> Vec<Event> {
        new.order_seals
            .iter()
            .filter(|s| {
                old.is_none_or(|o| {
                    !o.order_seals
                        .iter()
                        .any(|x| x.id == s.id && x.sha256 == s.sha256)
                })
            })
            .map(|s| Event::OrderEntered {
                order: s.id.clone(),
                file: s.file.clone(),
                sha256: s.sha256.clone(),
                entered_by: s.entered_by.clone(),
                approvers: s
                    .approvers
                    .iter()
                    .map(|a| format!("{} ({})", a.principal, a.key))
                    .collect(),
                policy: new.version.clone(),
            })
            .collect()
    }

    /// The `signers_in_force` record of a load whose `allowed_signers`
    /// differs from the one before (None: no signing, or the same file).
    pub fn signers_in_force(
        old: Option<&crate::policy::Policy>,
        new: &crate::policy::Policy,
    ) -> Option<Event> {
        let s = new.signers.as_ref()?;
        let previous = old
            .and_then(|o| o.signers.as_ref())
            .map(|o| o.sha256.clone());
        if previous.as_ref() == Some(&s.sha256) {
            return None;
        }
        Some(Event::SignersInForce {
            file: s.file.clone(),
            sha256: s.sha256.clone(),
            signers: s.signers.clone(),
            previous,
        })
    }

    /// The `policy_signed` record of a load whose manifest differs from
    /// the one in force before (None: none, or the same).
    pub fn policy_signed(
        old: Option<&crate::policy::Policy>,
        new: &crate::policy::Policy,
    ) -> Option<Event> {
        let m = new.manifest.as_ref()?;
        if old.and_then(|o| o.manifest.as_ref()).map(|o| &o.sha256) == Some(&m.sha256) {
            return None;
        }
        Some(Event::PolicySigned {
            policy: new.version.clone(),
            manifest: m.sha256.clone(),
            version: m.version,
            author: format!("{} ({})", m.author, m.key),
            reason: m.reason.clone(),
            time: m.time.clone(),
            previous: m.previous.clone(),
        })
    }

    /// The audit records of a refused load's bundle errors.
    pub fn bundle_refused(r: &crate::policy::file::Refused, trigger: &str) -> Vec<Event> {
        crate::policy::bundle::refused(r)
            .map(|d| Event::BundleRefused {
                file: d.file.clone(),
                reason: d.message.clone(),
                trigger: trigger.to_string(),
            })
            .collect()
    }

    /// The audit records of the orders a refused load refused.
    pub fn orders_refused(r: &crate::policy::file::Refused, trigger: &str) -> Vec<Event> {
        crate::policy::orders::refused(r)
            .map(|d| Event::OrderRefused {
                file: d.file.clone(),
                reason: d.message.clone(),
                trigger: trigger.to_string(),
            })
            .collect()
    }
}

/// The anchor as a hash.
pub fn anchor_hash(log_id: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(ANCHOR_TAG.as_bytes());
    h.update(log_id.as_bytes());
    h.finalize().into()
}
