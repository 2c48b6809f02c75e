//! Any bytes as a legacy message: parse and redact never panic, and a
//! redacted output never still carries a place-of-birth field.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::message::fields::Catalogue;
use origuard::message::{legacy, parse, Limits};
use origuard::redact::{redact, verify};

fuzz_target!(|data: &[u8]| {
    let _ = legacy::parse_header(data);
    let cat = Catalogue::builtin();
    let mut raw = b"DR.COOLN0000.VTICE0900.TXT\n".to_vec();
    raw.extend_from_slice(data);
    for input in [Bytes::copy_from_slice(data), Bytes::from(raw)] {
        if let Ok(m) = parse(input, &cat, &Limits::default()) {
            if let Ok(r) = redact(&m, &cat, cat.all(), &Limits::default()) {
                assert!(verify::check(&r.bytes, m.format, &cat, cat.all()).is_ok());
            }
        }
    }
});
