//! Command implementations. Each tool is a plain function over paths and
//! writers; `main.rs` only parses arguments and maps results to exit codes.

pub mod audit_cmd;
pub mod filter;
pub mod inspect;
pub mod policy_cmd;
pub mod run;
pub mod serve;
pub mod stream;
