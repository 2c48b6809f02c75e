//! The example policy (`deploy/policy/colorado.toml`) for integration
//! tests: its path, and the policy loaded with extra text appended and a
//! court-order file beside it, through an in-memory reader (nothing is
//! written to `deploy/`).

use origuard::policy::file::{load_at, Refused};
use origuard::policy::Policy;
use std::collections::HashMap;
use std::time::SystemTime;

/// The folder of the example policy and its list files.
pub const EXAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy");

/// The example policy file.
pub const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml");

/// The example policy with `extra` appended and `orders` as its
/// `court_orders.file` (`orders.toml`), validated at `now`.
pub fn example_with(extra: &str, orders: &str, now: SystemTime) -> Result<Policy, Refused> {
    let base = std::fs::read_to_string(EXAMPLE).unwrap();
    let text = base.replace(
        "response_window = \"10m\"",
        "response_window = \"10m\"\nfile = \"orders.toml\"",
    ) + extra;
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    files.insert(EXAMPLE.to_string(), text.into_bytes());
    files.insert(
        format!("{EXAMPLE_DIR}/orders.toml"),
        orders.as_bytes().to_vec(),
    );
    load_at(
        EXAMPLE,
        &mut |p: &str| match files.get(p) {
            Some(b) => Ok(b.clone()),
            None => std::fs::read(p),
        },
        now,
    )
}
