//! The example policy with one court order, read from memory, for the
//! court-order fuzz targets (`court_order`, `court_order_response`).
use origuard::policy::Policy;
use std::sync::OnceLock;

/// The example policy with `orders` as its orders file, loaded once.
pub fn with_orders(orders: &'static str) -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let main = include_str!("../../deploy/policy/colorado.toml").replace(
            "response_window = \"10m\"",
            "response_window = \"10m\"\nfile = \"orders.toml\"",
        );
        origuard::policy::file::load("colorado.toml", &mut |p: &str| {
            Ok(match p {
                "colorado.toml" => main.clone().into_bytes(),
                "orders.toml" => orders.as_bytes().to_vec(),
                "lists/immigration.txt" => include_bytes!("../../deploy/policy/lists/immigration.txt").to_vec(),
                "lists/federal_redact.txt" => include_bytes!("../../deploy/policy/lists/federal_redact.txt").to_vec(),
                _ => return Err(std::io::Error::other("no such file")),
            })
        })
        .expect("policy")
    })
}
