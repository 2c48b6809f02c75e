//! Any bytes through both framings: never panics; frames re-encode to the
//! exact bytes they came from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use origuard::framing::{encode, split_all, Framing};

fuzz_target!(|data: &[u8]| {
    for f in [Framing::Len4, Framing::StxEtx] {
        let (frames, _err) = split_all(f, data, 4096);
        let mut again = Vec::new();
        for fr in &frames {
            again.extend_from_slice(&encode(f, fr).expect("a decoded frame re-encodes"));
        }
        assert_eq!(&data[..again.len()], &again[..]);
    }
});
