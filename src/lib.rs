//! origuard: a streaming, policy-driven privacy proxy between a state's
//! criminal-justice message switch and the Nlets interstate network.
//!
//! Layout:
//! * pure core (no I/O, no tokio): [`framing`], [`message`], [`redact`],
//!   [`policy`] (file contents come in through a reader), [`decision`],
//!   [`audit::record`] and [`audit::verify`];
//! * runtime: [`proxy`] (links, sessions, reload, drain), [`tls`], [`admin`]
//!   (metrics and admin HTTP), [`audit::writer`], [`metrics`], [`config`];
//! * tools: [`tools`] (command implementations; `main.rs` only wires).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod audit;
pub mod cli;
pub mod config;
pub mod decision;
pub mod framing;
pub mod message;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod redact;
pub mod tls;
pub mod tools;
