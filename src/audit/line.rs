//! The bytes of one audit line, fast: a record's fields are encoded into a
//! [`Body`] before the writer's lock is taken, and under it only the chain
//! parts (`seq`, `ts`, `prev`, `hash`) are added and hashed as they are
//! written.
//!
//! serde is the reference spelling of every record ([`Body::of`]); the two
//! records written per message on the proxy's path — a decision and a
//! `written` batch — have hand-written encoders ([`Body::decision`],
//! [`Body::written`]) that tests hold byte-identical to serde's, escaping
//! included, so the log format has one definition.

use super::merkle::Hash;
use super::record::Event;
use crate::decision::{Decision, Outcome};
use crate::message::Direction;
use crate::policy::Policy;
use sha2::{Digest, Sha256};

/// A record's fields as JSON object members, without the braces:
/// `"kind":"…",…`. Everything of the line except its chain parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body(Vec<u8>);

impl Body {
    /// Any event, through serde (the reference encoding).
    pub fn of(event: &Event) -> Body {
        // Serialising plain data into a Vec cannot fail.
        let mut v = serde_json::to_vec(event).unwrap_or_default();
        // `{…}` → `…`: the members, spliced between `ts` and `prev`.
        v.pop();
        v.remove(0);
        Body(v)
    }

    /// The decision record of `d` (as [`super::record::DecisionRecord::of`]
    /// then [`Body::of`] would encode it), without building the record.
    pub fn decision(d: &Decision, dir: Direction, p: &Policy, link: Option<&str>) -> Body {
        Body::decision_in(Vec::with_capacity(640), d, dir, p, link)
    }

    /// [`Body::decision`] encoded into `buf` (cleared first), so that a
    /// caller that hands the bytes back with [`Body::into_vec`] encodes
    /// record after record without allocating.
    // Long: one key after another in the record's field order, two lines each.
    pub fn decision_in(
        mut buf: Vec<u8>,
        d: &Decision,
        dir: Direction,
        p: &Policy,
        link: Option<&str>,
    ) -> Body {
        buf.clear();
        let mut w = Writer(buf);
        let h = d.header.as_ref();
        w.raw(b"\"kind\":\"decision\",\"link\":");
        w.opt_str(link);
        w.key(b"direction");
        w.str(dir.name());
        w.key(b"format");
        w.opt_str(h.map(|h| h.format.name()));
        w.key(b"mke");
        w.opt_str(h.map(|h| h.mke.as_str()));
        w.key(b"class");
        w.opt_str(h.map(|h| h.class.name()));
        w.key(b"originating_ori");
        w.opt_str(h.map(|h| h.originating.as_str()));
        w.key(b"destination_ori");
        w.list(
            h.iter()
                .flat_map(|h| h.dests.as_slice())
                .map(|o| o.as_str()),
        );
        w.key(b"counterparty_ori");
        w.opt_str(d.counterparty.as_ref().map(|o| o.as_str()));
        w.key(b"control");
        w.opt_str(
            h.and_then(|h| h.control.as_ref())
                .filter(|_| d.exception.is_none())
                .map(|c| c.as_str()),
        );
        w.key(b"action");
        w.opt_str(d.action.map(|a| a.name()));
        w.key(b"category");
        w.str(d.category.name());
        w.key(b"reason");
        w.str(d.reason.name());
        w.key(b"detail");
        w.opt_str(d.detail);
        w.key(b"list");
        w.opt_str(d.verdict.map(|v| p.list_name(v)));
        w.key(b"entry");
        w.opt_str(d.verdict.map(|v| p.entry_text(v)));
        w.key(b"fields_removed");
        w.list(d.removed.iter().map(|f| p.catalogue.name(f)));
        w.key(b"bytes_in");
        w.num(d.bytes_in as u64);
        w.key(b"bytes_out");
        w.num(d.bytes_out as u64);
        w.key(b"reply_bytes");
        w.num(match &d.outcome {
            Outcome::Deny { reply: Some(r) } => r.len() as u64,
            _ => 0,
        });
        w.key(b"policy");
        w.str(&p.version);
        w.key(b"exception");
        w.opt_str(d.exception.as_ref().map(|u| &*u.id));
        w.key(b"exception_use");
        match &d.exception {
            Some(u) => w.num(u.number as u64),
            None => w.raw(b"null"),
        }
        if let Some(u) = &d.exception {
            w.key(b"exception_approvers");
            w.str(&u.approvers);
            w.key(b"exception_issuer");
            w.str(super::record::issuer_name(p, &u.id));
        }
        if let Some((c, n)) = d.subject_check {
            w.key(b"order_subject");
            w.str(c.name());
            w.key(b"order_records");
            w.num(n as u64);
        }
        w.key(b"reason_code");
        let code = d.reason_code.map(|c| char::from(c).to_string());
        w.opt_str(code.as_deref());
        w.key(b"federal_watch");
        w.opt_str(match (d.verdict, d.counterparty) {
            (None, Some(o)) => p.looks_federal(o.as_bytes()),
            _ => None,
        });
        Body(w.0)
    }

    /// A `written` record.
    pub fn written(link: &str, side: &str, seqs: &[u64]) -> Body {
        Body::written_in(Vec::with_capacity(64 + 8 * seqs.len()), link, side, seqs)
    }

    /// [`Body::written`] encoded into `buf` (cleared first; see
    /// [`Body::decision_in`]).
    pub fn written_in(mut buf: Vec<u8>, link: &str, side: &str, seqs: &[u64]) -> Body {
        buf.clear();
        let mut w = Writer(buf);
        w.raw(b"\"kind\":\"written\",\"link\":");
        w.str(link);
        w.key(b"side");
        w.str(side);
        w.key(b"seqs");
        w.raw(b"[");
        for (i, s) in seqs.iter().enumerate() {
            if i > 0 {
                w.raw(b",");
            }
            w.num(*s);
        }
        w.raw(b"]");
        Body(w.0)
    }

    /// The buffer back, for the next [`Body::decision_in`] or
    /// [`Body::written_in`].
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// The members' bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Encodes one record line (with its trailing newline) into `out`; returns
/// its hash. The fields go through serde ([`Body::of`]); the proxy's hot
/// path encodes its records with [`Body::decision`] and [`Body::written`]
/// before taking the writer's lock, then calls [`encode_line`].
pub fn encode(seq: u64, ts: &str, event: &Event, prev: &Hash, out: &mut Vec<u8>) -> Hash {
    encode_line(seq, ts, &Body::of(event), prev, out)
}

/// Appends the line of record `seq` (with its trailing newline) to `out`
/// and returns its hash: the SHA-256 of the line up to `,"hash":` with `}`
/// appended (`specs/audit.md`).
pub fn encode_line(seq: u64, ts: &str, body: &Body, prev: &Hash, out: &mut Vec<u8>) -> Hash {
    encode_members(seq, ts, &body.0, prev, out)
}

/// [`encode_line`] of a body's bytes ([`Body::as_bytes`], kept apart from
/// the `Body` until the line is written: the audit log stages bodies and
/// writes their lines per group commit).
pub fn encode_members(seq: u64, ts: &str, body: &[u8], prev: &Hash, out: &mut Vec<u8>) -> Hash {
    let start = out.len();
    let mut w = Writer(std::mem::take(out));
    w.raw(b"{\"seq\":");
    w.num(seq);
    w.key(b"ts");
    w.str(ts);
    w.raw(b",");
    w.raw(body);
    w.key(b"prev");
    w.hex(prev);
    let mut h = Sha256::new();
    h.update(&w.0[start..]);
    h.update(b"}");
    let hash: Hash = h.finalize().into();
    w.key(b"hash");
    w.hex(&hash);
    w.raw(b"}\n");
    *out = w.0;
    hash
}

/// JSON members into a buffer, spelled as serde_json's compact writer does.
struct Writer(Vec<u8>);

impl Writer {
    fn raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    /// `,"name":`
    fn key(&mut self, name: &[u8]) {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(name);
        self.0.extend_from_slice(b"\":");
    }

    fn num(&mut self, n: u64) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    fn hex(&mut self, h: &Hash) {
        let mut buf = [0u8; 64];
        // 64 bytes hold the hex of 32: cannot fail.
        let _ = hex::encode_to_slice(h, &mut buf);
        self.0.push(b'"');
        self.0.extend_from_slice(&buf);
        self.0.push(b'"');
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.raw(b"null"),
        }
    }

    fn list<'a>(&mut self, items: impl Iterator<Item = &'a str>) {
        self.0.push(b'[');
        for (i, s) in items.enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.str(s);
        }
        self.0.push(b']');
    }

    /// A JSON string: `"` and `\` escaped, control characters as
    /// `\b \t \n \f \r` or `\u00xx`, everything else as is (serde_json's
    /// rules).
    fn str(&mut self, s: &str) {
        let b = s.as_bytes();
        self.0.push(b'"');
        // Almost every string needs no escape: one pass that vectorises
        // (no early exit), then one copy.
        let plain = b
            .iter()
            .fold(true, |ok, &c| ok & (c >= 0x20 && c != b'"' && c != b'\\'));
        if plain {
            self.0.extend_from_slice(b);
            self.0.push(b'"');
            return;
        }
        let mut from = 0;
        for (i, &c) in b.iter().enumerate() {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                0x08 => b"\\b",
                b'\t' => b"\\t",
                b'\n' => b"\\n",
                0x0c => b"\\f",
                b'\r' => b"\\r",
                0..=0x1f => b"",
                _ => continue,
            };
            self.0.extend_from_slice(&b[from..i]);
            if esc.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.0.extend_from_slice(b"\\u00");
                self.0.push(HEX[(c >> 4) as usize]);
                self.0.push(HEX[(c & 0xf) as usize]);
            } else {
                self.0.extend_from_slice(esc);
            }
            from = i + 1;
        }
        self.0.extend_from_slice(&b[from..]);
        self.0.push(b'"');
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
