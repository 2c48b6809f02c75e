//! The tamper-evident audit log: one JSON line per decision and per
//! administrative event, SHA-256 hash-chained from a random log id, written
//! before the message it records is forwarded. See `specs/audit.md`.
//!
//! Pure: [`record`] says what records hold and [`line`] encodes them (the
//! clock and the log id are passed in), [`verify`] checks a chain and its Merkle tree as a stream, across
//! segments, [`merkle`] is the RFC 6962 tree (compact frontier, inclusion
//! proofs), [`checkpoint`] signs and checks checkpoints (Ed25519). The file I/O is
//! [`crate::runtime::audit_log`].

pub mod checkpoint;
pub mod line;
pub mod merkle;
pub mod record;
pub mod segment;
pub mod verify;
