#![allow(dead_code)] // each target uses the part it needs
//! The example policy with its court orders (one by name and birth date,
//! and for `court_order_response` one by licence number too), read from
//! memory, for the court-order fuzz targets (`court_order`,
//! `court_order_response`), and with none for the others.
use origuard::policy::Policy;
use std::sync::OnceLock;

/// The court order of the fuzz targets: ICE (`VTICE0900`) may ask about
/// DOE, JANE Q (1980-01-15) and receive her photo; `{ID}` is its id.
const PHOTO_ORDER: &str = r#"
[[exception]]
id = "{ID}"
ori = "VTICE0900"
subject = { name = "DOE, JANE Q", dob = "1980-01-15" }
authority = { court = "c", judge = "j", case = "k", document = "order", judicial = true, issuer = "state_judge" }
not_before = "2000-01-01T00:00:00Z"
expires = "2099-12-31T23:59:59Z"
max_uses = 10000
release = ["photo"]
profile = "court-order-photo"
approved_by = ["a", "b"]
"#;

/// The example policy with [`PHOTO_ORDER`] under the id `id`, loaded once.
pub fn with_photo_order(id: &str) -> &'static Policy {
    with_orders(PHOTO_ORDER.replace("{ID}", id))
}

/// [`PHOTO_ORDER`] under `id`, and beside it an order of `VTICE0901` for
/// the holder of licence 123456789 (CO) under `id`-OLN, loaded once.
pub fn with_photo_and_licence_orders(id: &str) -> &'static Policy {
    let licence = PHOTO_ORDER
        .replace("{ID}", &format!("{id}-OLN"))
        .replace("VTICE0900", "VTICE0901")
        .replace(
            r#"{ name = "DOE, JANE Q", dob = "1980-01-15" }"#,
            r#"{ oln = "123456789", state = "CO" }"#,
        );
    with_orders(PHOTO_ORDER.replace("{ID}", id) + &licence)
}

/// The example policy with `orders` as its orders file, loaded once (the
/// first call's `orders` stands for the whole run).
pub fn with_orders(orders: impl Into<String>) -> &'static Policy {
    let orders = orders.into();
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let main = include_str!("../../deploy/policy/colorado.toml").replace(
            "response_window = \"10m\"",
            "response_window = \"10m\"\nfile = \"orders.toml\"",
        );
        origuard::policy::file::load("colorado.toml", &mut |p: &str| {
            Ok(match p {
                "colorado.toml" => main.clone().into_bytes(),
                "orders.toml" => orders.clone().into_bytes(),
                "lists/immigration.txt" => {
                    include_bytes!("../../deploy/policy/lists/immigration.txt").to_vec()
                }
                "lists/federal_redact.txt" => {
                    include_bytes!("../../deploy/policy/lists/federal_redact.txt").to_vec()
                }
                _ => return Err(std::io::Error::other("no such file")),
            })
        })
        .expect("policy")
    })
}
