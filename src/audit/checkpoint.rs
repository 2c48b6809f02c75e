//! Signed checkpoints: the Merkle tree's size and root at a point of the
//! log, with the time and the log id, signed with Ed25519 (ring).
//!
//! A checkpoint is written into the log as a `checkpoint` record and to the
//! checkpoint file an off-box witness collects. Anyone who saved one can
//! later check that the log still holds that tree as a prefix
//! (`audit verify --checkpoint`): a rewrite that keeps the hash chain
//! self-consistent changes the root at that size. The signature says the
//! holder of the signing key stated it. Pure: the key is passed in.
//!
//! The signed bytes (`specs/audit.md`, *Checkpoints*) are five LF-ended
//! lines of ASCII: `origuard-checkpoint-v1`, the log id, the tree size in
//! decimal, the root in lowercase hex, the time (RFC 3339, UTC).

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First line of the signed bytes: names the format and its version.
pub const SIGNED_TAG: &str = "origuard-checkpoint-v1";

/// A checkpoint as the checkpoint file holds it (one JSON object) and as a
/// saved copy is read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log's id.
    pub log_id: String,
    /// Leaves covered: records `0..tree_size` (the checkpoint record itself
    /// has `seq` = `tree_size` and is not covered by its own root).
    pub tree_size: u64,
    /// Merkle root of those records (hex).
    pub root: String,
    /// When it was made (UTC, RFC 3339 with milliseconds; the record's `ts`).
    pub time: String,
    /// SHA-256 of the raw 32-byte public key (hex); null when unsigned.
    pub key_id: Option<String>,
    /// Ed25519 signature over [`Checkpoint::signed_bytes`] (hex, 128
    /// digits); null when the log has no signing key.
    pub signature: Option<String>,
}

/// A `checkpoint` record of the audit log: the [`Checkpoint`] without its
/// time (the record's own `ts` is the time), with the frontier that lets a
/// restart resume the tree from here without reading what came before.
/// Declared once: the writer encodes it (`Event::Checkpoint`) and
/// verification reads it back ([`CheckpointLine`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// The log's id.
    pub log_id: String,
    /// Records covered (this record's `seq` is `tree_size`).
    pub tree_size: u64,
    /// Merkle root (hex).
    pub root: String,
    /// The roots of the perfect subtrees of the tree (hex), largest first.
    pub frontier: Vec<String>,
    /// Id of the signing key (SHA-256 of the public key, hex), or null.
    pub key_id: Option<String>,
    /// Ed25519 signature (hex), or null when the log has no key.
    pub signature: Option<String>,
}

impl CheckpointRecord {
    /// The record of `cp`, with the tree's `frontier` (hex).
    pub fn of(cp: &Checkpoint, frontier: Vec<String>) -> CheckpointRecord {
        CheckpointRecord {
            log_id: cp.log_id.clone(),
            tree_size: cp.tree_size,
            root: cp.root.clone(),
            frontier,
            key_id: cp.key_id.clone(),
            signature: cp.signature.clone(),
        }
    }

    /// The checkpoint it records, made at `time` (the record's `ts`).
    pub fn checkpoint(self, time: String) -> Checkpoint {
        Checkpoint {
            log_id: self.log_id,
            tree_size: self.tree_size,
            root: self.root,
            time,
            key_id: self.key_id,
            signature: self.signature,
        }
    }
}

/// A `checkpoint` line of the log as verification reads it: the record
/// and its `ts` (the other fields of the line are the chain's).
#[derive(Clone, Debug, Deserialize)]
pub struct CheckpointLine {
    /// The record's time.
    pub ts: String,
    /// The record.
    #[serde(flatten)]
    pub record: CheckpointRecord,
}

/// Why a checkpoint's signature does not check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The checkpoint carries no signature.
    #[error("checkpoint at size {0} is not signed")]
    Unsigned(u64),
    /// Signed by another key.
    #[error(
        "checkpoint at size {size} is signed by key {key_id}, not by the given public key ({want})"
    )]
    OtherKey {
        /// Tree size.
        size: u64,
        /// The key id it names.
        key_id: String,
        /// The given key's id.
        want: String,
    },
    /// The signature does not verify.
    #[error(
        "checkpoint at size {0}: the signature does not verify (altered checkpoint or wrong key)"
    )]
    Bad(u64),
}

/// The id of a public key: SHA-256 of its 32 raw bytes, hex.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key))
}

impl Checkpoint {
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "{SIGNED_TAG}\n{}\n{}\n{}\n{}\n",
            self.log_id, self.tree_size, self.root, self.time
        )
        .into_bytes()
    }

    /// Signs it with `key` (sets `key_id` and `signature`).
    pub fn sign(&mut self, key: &Ed25519KeyPair) {
        self.key_id = Some(key_id(key.public_key().as_ref()));
        self.signature = Some(hex::encode(key.sign(&self.signed_bytes()).as_ref()));
    }

    /// Checks the signature against a raw 32-byte Ed25519 public key.
    pub fn check_signature(&self, public_key: &[u8]) -> Result<(), SignatureError> {
        let Some(sig) = &self.signature else {
            return Err(SignatureError::Unsigned(self.tree_size));
        };
        let want = key_id(public_key);
        if let Some(k) = &self.key_id {
            if *k != want {
                return Err(SignatureError::OtherKey {
                    size: self.tree_size,
                    key_id: k.clone(),
                    want,
                });
            }
        }
        let sig = hex::decode(sig).map_err(|_| SignatureError::Bad(self.tree_size))?;
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&self.signed_bytes(), &sig)
            .map_err(|_| SignatureError::Bad(self.tree_size))
    }

    /// The checkpoint file's line (compact JSON, LF).
    pub fn line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Reads a public key: a file holding the 64 hex digits `audit keygen`
/// prints, or the 32 raw bytes, or a PEM `PUBLIC KEY` (SubjectPublicKeyInfo,
/// as `openssl pkey -pubout` writes; the key is its last 32 bytes).
pub fn parse_public_key(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() == 32 {
        return Some(text.to_vec());
    }
    let s = String::from_utf8_lossy(text);
    let t = s.trim();
    if t.len() == 64 {
        return hex::decode(t).ok();
    }
    if t.starts_with("-----BEGIN PUBLIC KEY-----") {
        let b64: String = t.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64_decode(&b64)?;
        // Ed25519 SPKI is 44 bytes: a fixed 12-byte prefix and the key.
        return (der.len() == 44).then(|| der[12..].to_vec());
    }
    None
}

/// Standard base64 (with or without padding).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' => continue,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Loads a signing key from PKCS#8 DER (as `audit keygen` writes, or
/// `openssl genpkey -algorithm ed25519 -outform DER`).
pub fn load_signing_key(pkcs8: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| KeyError(e.to_string()))
}

/// A signing key that cannot be read: the reason `ring` gives.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 PKCS#8 key ({0})")]
pub struct KeyError(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn key() -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        load_signing_key(doc.as_ref()).unwrap()
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            log_id: "6b1f3c9e0a7d4e2f8c5b1a9d3e7f2c40".into(),
            tree_size: 1234,
            root: "ab".repeat(32),
            time: "2026-12-01T12:00:00.000Z".into(),
            key_id: None,
            signature: None,
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_is_refused() {
        let k = key();
        let pk = k.public_key().as_ref().to_vec();
        let mut c = cp();
        assert_eq!(c.check_signature(&pk), Err(SignatureError::Unsigned(1234)));
        c.sign(&k);
        assert_eq!(c.check_signature(&pk), Ok(()));
        let mut bad = c.clone();
        bad.tree_size += 1;
        assert_eq!(bad.check_signature(&pk), Err(SignatureError::Bad(1235)));
        let mut bad = c.clone();
        bad.root = "cd".repeat(32);
        assert!(bad.check_signature(&pk).is_err());
        let other = key();
        assert!(matches!(
            c.check_signature(other.public_key().as_ref()),
            Err(SignatureError::OtherKey { .. })
        ));
        let back: Checkpoint = serde_json::from_slice(&c.line()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn signed_bytes_are_five_lines() {
        assert_eq!(
            String::from_utf8(cp().signed_bytes()).unwrap(),
            format!(
                "origuard-checkpoint-v1\n6b1f3c9e0a7d4e2f8c5b1a9d3e7f2c40\n1234\n{}\n2026-12-01T12:00:00.000Z\n",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn public_keys_parse_from_hex_raw_and_pem() {
        let k = key();
        let pk = k.public_key().as_ref().to_vec();
        assert_eq!(
            parse_public_key(hex::encode(&pk).as_bytes()),
            Some(pk.clone())
        );
        assert_eq!(parse_public_key(&pk), Some(pk.clone()));
        let mut der = hex::decode("302a300506032b6570032100").unwrap();
        der.extend_from_slice(&pk);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            b64(&der)
        );
        assert_eq!(parse_public_key(pem.as_bytes()), Some(pk));
    }

    fn b64(d: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in d.chunks(3) {
            let n = (c[0] as u32) << 16
                | (*c.get(1).unwrap_or(&0) as u32) << 8
                | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    }
}
