//! The tamper-evident audit log: one JSON line per decision and per
//! administrative event, SHA-256 hash-chained from a random log id, written
//! before the message it records is forwarded. See `specs/audit.md`.
//!
//! [`record`] and [`verify`] are pure; [`writer`] does the file I/O.

pub mod record;
pub mod verify;
pub mod writer;

#[cfg(test)]
mod tests;
