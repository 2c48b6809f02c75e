//! Court-order fixtures shared by tests/court_orders.rs and
//! tests/court_order_cases.rs: the example policy with an orders file in a
//! temporary directory, order queries, and state responses about the
//! order's subject or about somebody else (all synthetic).

use super::fixture;
use std::time::{Duration, SystemTime};

/// One `[[exception]]` for `ori` about `DOE, JANE Q` born 1980-01-15, in
/// force from a day ago for 30 days.
pub fn order(id: &str, ori: &str, max_uses: u32) -> String {
    let t = |d: SystemTime| humantime::format_rfc3339_seconds(d).to_string();
    let now = SystemTime::now();
    format!(
        r#"[[exception]]
id = "{id}"
ori = "{ori}"
subject = {{ name = "DOE, JANE Q", dob = "1980-01-15" }}
authority = {{ court = "U.S. District Court, D. Colo.", judge = "Hon. A. Example", case = "1:26-cr-00042", document = "warrant", judicial = true, issuer = "federal_judge" }}
not_before = "{}"
expires = "{}"
max_uses = {max_uses}
release = ["photo"]
profile = "court-order-photo"
approved_by = ["First Approver", "Second Approver"]
"#,
        t(now - Duration::from_secs(3_600)),
        t(now + Duration::from_secs(30 * 86_400))
    )
}

/// The example policy in `dir`, naming `court-orders.toml` (written with
/// `orders`); returns the policy path.
pub fn policy_with_orders(dir: &std::path::Path, orders: &str) -> String {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy");
    std::fs::create_dir_all(dir.join("lists")).unwrap();
    for f in ["lists/immigration.txt", "lists/federal_redact.txt"] {
        std::fs::copy(format!("{src}/{f}"), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(format!("{src}/colorado.toml"))
        .unwrap()
        .replace(
            "response_window = \"10m\"",
            "response_window = \"10m\"\nfile = \"court-orders.toml\"",
        );
    std::fs::write(dir.join("colorado.toml"), text).unwrap();
    write_orders(dir, orders);
    dir.join("colorado.toml").to_str().unwrap().to_string()
}

/// Replaces the orders file (temporary file and rename, as an operator
/// should).
pub fn write_orders(dir: &std::path::Path, orders: &str) {
    let tmp = dir.join("court-orders.toml.tmp");
    std::fs::write(&tmp, orders).unwrap();
    std::fs::rename(tmp, dir.join("court-orders.toml")).unwrap();
}

/// A legacy DQ from `ori` with control field `control`.
pub fn dq(ori: &str, control: &str, body: &str) -> Vec<u8> {
    format!("DQ.{ori}.CO.*{control}.TXT\n{body}").into_bytes()
}

/// The order's query (name and date of birth of the subject).
pub fn order_query(ori: &str, control: &str) -> Vec<u8> {
    dq(ori, control, "NAM/DOE, JANE Q.DOB/19800115")
}

/// The state's NIEM DR with a photo, to `ori`, about the order's subject.
pub fn dr_photo(ori: &str, control: &str) -> Vec<u8> {
    String::from_utf8(fixture("xml/dr_photo.xml").to_vec())
        .unwrap()
        .replace(
            "<nh2:DestinationORIID>AZNLETS20",
            &format!("<nh2:DestinationORIID>{ori}"),
        )
        .replace("A0TRM0042", control)
        .into_bytes()
}

/// The same response about somebody else (a wrong hit): another name and
/// date of birth, the same layout and photo.
pub fn dr_other_person(ori: &str, control: &str) -> Vec<u8> {
    String::from_utf8(dr_photo(ori, control))
        .unwrap()
        .replace("DOE, JANE Q  DOB/19800115", "ROE, RICHARD  DOB/19751203")
        .replace("<nc:PersonSurName>DOE<", "<nc:PersonSurName>ROE<")
        .into_bytes()
}

/// A candidate list: the subject and a second person in one response.
pub fn dr_two_candidates(ori: &str, control: &str) -> Vec<u8> {
    String::from_utf8(dr_photo(ori, control))
        .unwrap()
        .replace(
            "END OF RECORD",
            "ROE, RICHARD  DOB/19751203 SEX/M OLN/111111111 STATUS/VALID\nEND OF RECORD",
        )
        .into_bytes()
}

/// True when `b` carries an image.
pub fn has_photo(b: &[u8]) -> bool {
    b.windows(18).any(|w| w == b"BinaryBase64Object")
}

/// The audit records (decisions) in the log at `path` and its segments.
pub fn decisions(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == "decision")
        .collect()
}
