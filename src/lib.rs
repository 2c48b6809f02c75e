//! origuard: a streaming, policy-driven privacy proxy between a state's
//! criminal-justice message switch and the Nlets interstate network.
//!
//! # Layout
//!
//! Four layers; each imports only from the layers below it, and no two
//! modules import each other (`specs/architecture.md` draws it):
//!
//! 1. **core** — pure functions over bytes and values: no I/O, no tokio, no
//!    clock or randomness except what is passed in.
//!    Two leaves every layer may use: [`names`] (the names of enum values,
//!    read by one `parse_name`) and [`limits`] (the message size bound).
//!    [`framing`] (message boundaries), [`message`] (legacy and NIEM parsing,
//!    the key table, the field catalogue), [`redact`] (release profiles, the
//!    catalogue redactor, the independent checks), [`policy`] (the policy
//!    file read through a reader function, compiled lookup, explain, diff),
//!    [`decision`] (the one per-message decision, decline replies, outcome
//!    counts), [`audit`] (record encoding and chain verification),
//!    [`report`] (oversight figures from audit logs, suppression, CSV, HTML),
//!    [`sign`] (OpenSSH signatures against an `allowed_signers` file).
//! 2. **runtime** — [`runtime`]: the proxy (links, sessions), TLS, the admin
//!    endpoint, metrics, configuration, the audit log writer, the live policy
//!    store and its reload triggers.
//! 3. **capture** — [`capture`]: reading and writing captures (framed
//!    streams, pcap/pcapng) and synthetic traffic; used by the commands only.
//! 4. **commands** — [`tools`]: one file per command and the clap
//!    definitions; `main.rs` only parses arguments and exits with the code.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The version with the git commit and build date (`--version`, the audit
/// log's `software` field, the `origuard_build_info` metric).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ORIGUARD_GIT_COMMIT"),
    ", built ",
    env!("ORIGUARD_BUILD_DATE"),
    ")"
);

pub mod audit;
pub mod capture;
pub mod decision;
pub mod framing;
pub mod limits;
pub mod message;
pub mod names;
pub mod policy;
pub mod redact;
pub mod report;
pub mod runtime;
pub mod sign;
pub mod tools;
