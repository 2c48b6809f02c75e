//! Like quick-xml's fuzz_chunked_reader: the first byte picks a chunk size;
//! feeding the stream in chunks must give the same frames and error as
//! feeding it whole.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use origuard::framing::{split_all, FrameCodec, Framing};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let chunk = 1 + (first as usize & 0x3f);
    let framing = if first & 0x80 != 0 { Framing::StxEtx } else { Framing::Len4 };
    let (whole, err) = split_all(framing, rest, 512);
    let mut codec = FrameCodec::new(framing, 512);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut failed = None;
    'outer: for c in rest.chunks(chunk) {
        buf.extend_from_slice(c);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => got.push(f),
                Ok(None) => break,
                Err(e) => { failed = Some(e); break 'outer; }
            }
        }
    }
    if failed.is_none() {
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(f)) => got.push(f),
                Ok(None) => break,
                Err(e) => { failed = Some(e); break; }
            }
        }
    }
    assert_eq!(whole, got);
    assert_eq!(err.map(|e| e.reason()), failed.map(|e| e.reason()));
});
