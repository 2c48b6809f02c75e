//! origuard: a streaming, policy-driven privacy proxy between a state's
//! criminal-justice message switch and the Nlets interstate network.
//!
//! Layout:
//! * pure core (no I/O, no tokio): [`framing`], [`message`], [`redact`];
//! * tools: [`tools`] (command implementations; `main.rs` only wires).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod cli;
pub mod decision;
pub mod framing;
pub mod message;
pub mod policy;
pub mod redact;
pub mod tools;
