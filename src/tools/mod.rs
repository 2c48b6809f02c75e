//! Command implementations. Each tool is a plain function over paths and
//! writers; `main.rs` only parses arguments and maps results to exit codes.

pub mod audit_cmd;
pub mod bench;
pub mod capture;
pub mod demo;
pub mod filter;
pub mod gen;
pub mod inspect;
pub mod learn;
pub mod policy_cmd;
pub mod run;
pub mod serve;
pub mod stream;

/// The example policy: `deploy/policy/colorado.toml` under the working
/// directory when present (a checkout), else the one this binary was built from.
pub fn example_policy_path() -> String {
    let local = "deploy/policy/colorado.toml";
    if std::path::Path::new(local).exists() {
        local.to_string()
    } else {
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml").to_string()
    }
}
