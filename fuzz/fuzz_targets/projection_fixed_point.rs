//! Any bytes as a message to a restricted agency: when the projection
//! (onto the example profile and the built-in one) writes something, that
//! output holds only printable ASCII and line breaks, parses, and projected
//! again gives itself back byte for byte (a fixed point: nothing of the
//! input's layout can survive into it). Never a panic.
#![no_main]
#[path = "../common/policy.rs"]
mod policy;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::message::{parse, Limits};
use origuard::redact::project_once;

fuzz_target!(|data: &[u8]| {
    let p = policy::with_orders("");
    let limits = Limits::default();
    let Ok(m) = parse(Bytes::copy_from_slice(data), &p.catalogue, &limits) else {
        return;
    };
    for prof in &p.profiles {
        let Ok(out) = project_once(&m, prof) else { continue };
        assert!(
            out.iter()
                .all(|&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\r'),
            "a byte outside printable ASCII and line breaks"
        );
        let m2 = parse(Bytes::from(out.clone()), &p.catalogue, &limits)
            .expect("the projection's output parses");
        let again = project_once(&m2, prof).expect("the output projects again");
        assert_eq!(again, out, "not a fixed point");
    }
});
