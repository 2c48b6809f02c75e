//! Wire framing: where one Nlets message ends and the next begins.
//!
//! The byte framing of a state's socket link to Nlets is not public, so it is
//! pluggable and strict. Two framings are supported:
//!
//! * [`Framing::Len4`]: a 4-byte big-endian length, then exactly that many bytes;
//! * [`Framing::StxEtx`]: `0x02`, the message, `0x03`.
//!
//! The pure function [`check`] decides boundaries over a byte slice without
//! allocating; [`FrameCodec`] wraps it as a `tokio_util` `Decoder`/`Encoder`
//! so the proxy, the offline tools and the tests all share one decision.
//! An incomplete frame is `Ok(None)`, never an error. Anything that leaves the
//! boundaries in doubt is a [`FrameError`]: the caller must close the stream,
//! because bytes after a bad frame can never be trusted as a new message.

use bytes::{Buf, Bytes, BytesMut};
use std::fmt;
use std::str::FromStr;
use tokio_util::codec::{Decoder, Encoder};

/// Default maximum message size (8 MiB); declared in [`crate::limits`] so the
/// parser may bound a text run by it without importing the framing.
pub use crate::limits::DEFAULT_MAX_MESSAGE;

/// Start-of-text byte that opens an `stx-etx` frame.
pub const STX: u8 = 0x02;
/// End-of-text byte that closes an `stx-etx` frame.
pub const ETX: u8 = 0x03;

/// Which framing a link uses. Chosen per link in configuration.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Framing {
    /// 4-byte big-endian length prefix, then the message.
    Len4,
    /// `0x02` message `0x03`.
    StxEtx,
}

impl Framing {
    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Bytes this framing adds around a message of any size.
    pub fn overhead(self) -> usize {
        match self {
            Framing::Len4 => 4,
            Framing::StxEtx => 2,
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Framing {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "framing")
    }
}

/// Why a byte stream could not be split into messages. Every variant carries
/// the stream offset of the frame that failed, so operators can find it in a
/// capture. Each maps to one metric label / audit reason via [`FrameError::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame announces (or would need) more bytes than the configured maximum.
    #[error("frame at byte {offset} is {size} bytes, over the {max}-byte maximum")]
    Oversized {
        /// Stream offset of the frame start.
        offset: u64,
        /// Announced size (len4) or bytes seen without a terminator (stx-etx).
        size: usize,
        /// Configured maximum message size.
        max: usize,
    },
    /// The bytes at a frame boundary are not a valid frame start or body.
    #[error("malformed frame at byte {offset}: {what}")]
    Malformed {
        /// Stream offset of the offending byte.
        offset: u64,
        /// What was wrong, for operators.
        what: &'static str,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame starting at byte {offset} ({have} bytes buffered)")]
    Truncated {
        /// Stream offset of the unfinished frame.
        offset: u64,
        /// Bytes of it that arrived.
        have: usize,
    },
    /// The message cannot be represented in this framing (encoder side).
    #[error("message cannot be framed: {what}")]
    Unencodable {
        /// What prevents it.
        what: &'static str,
    },
    /// An I/O error from the underlying stream (decoder/encoder plumbing).
    #[error("i/o: {0}")]
    Io(String),
}

impl FrameError {
    /// Stable reason code shared by metrics labels and audit records.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Oversized { .. } => "frame_oversized",
            FrameError::Malformed { .. } => "frame_malformed",
            FrameError::Truncated { .. } => "frame_truncated",
            FrameError::Unencodable { .. } => "frame_unencodable",
            FrameError::Io(_) => "io",
        }
    }
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Io(e.to_string())
    }
}

/// Location of one complete frame at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan {
    /// Offset of the first message byte within the buffer.
    pub start: usize,
    /// Offset one past the last message byte.
    pub end: usize,
    /// Total bytes the frame occupies (header + message + trailer).
    pub total: usize,
}

/// Decides whether `buf` starts with a complete frame.
///
/// `scanned` is a hint for `stx-etx`: the number of bytes after the STX
/// already known to contain no ETX (so repeated calls on a growing buffer stay
/// linear). `offset` is the stream offset of `buf[0]`, used only in errors.
/// Returns `Ok(None)` when more bytes are needed.
// Long: one match, one arm per framing, each that framing's rules in reading order.
pub fn check(
    framing: Framing,
    buf: &[u8],
    max: usize,
    scanned: usize,
    offset: u64,
) -> Result<Option<FrameSpan>, FrameError> {
    match framing {
        Framing::Len4 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if len == 0 {
                return Err(FrameError::Malformed {
                    offset,
                    what: "zero-length frame",
                });
            }
            if len > max {
                return Err(FrameError::Oversized {
                    offset,
                    size: len,
                    max,
                });
            }
            if buf.len() < 4 + len {
                return Ok(None);
            }
            Ok(Some(FrameSpan {
                start: 4,
                end: 4 + len,
                total: 4 + len,
            }))
        }
        Framing::StxEtx => {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first != STX {
                return Err(FrameError::Malformed {
                    offset,
                    what: "expected STX (0x02) at frame start",
                });
            }
            let from = 1 + scanned.min(buf.len().saturating_sub(1));
            match memchr::memchr2(STX, ETX, &buf[from..]) {
                Some(i) => {
                    let at = from + i;
                    if at - 1 > max {
                        return Err(FrameError::Oversized {
                            offset,
                            size: at - 1,
                            max,
                        });
                    }
                    if buf[at] == STX {
                        return Err(FrameError::Malformed {
                            offset: offset + at as u64,
                            what: "STX (0x02) inside a frame",
                        });
                    }
                    let len = at - 1;
                    if len == 0 {
                        return Err(FrameError::Malformed {
                            offset,
                            what: "empty frame",
                        });
                    }
                    Ok(Some(FrameSpan {
                        start: 1,
                        end: at,
                        total: at + 1,
                    }))
                }
                None => {
                    let have = buf.len() - 1;
                    if have > max {
                        return Err(FrameError::Oversized {
                            offset,
                            size: have,
                            max,
                        });
                    }
                    Ok(None)
                }
            }
        }
    }
}

/// The bytes a frame puts before and after one message. A writer that
/// sends the message from its own buffer (vectored writes: a photo is not
/// copied) writes `head`, the message, then `tail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wrap {
    head: [u8; 4],
    head_len: u8,
    tail_len: u8,
}

impl Wrap {
    /// The bytes before the message (the len4 length, or STX).
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len as usize]
    }

    /// The bytes after the message (ETX, or nothing).
    pub fn tail(&self) -> &'static [u8] {
        match self.tail_len {
            0 => &[],
            _ => &[ETX],
        }
    }
}

/// How `msg` is framed in `framing`, or why it cannot be: the one place
/// the encoder's rules live (empty messages, the len4 size, STX/ETX inside
/// an stx-etx message).
pub fn wrap(framing: Framing, msg: &[u8]) -> Result<Wrap, FrameError> {
    if msg.is_empty() {
        return Err(FrameError::Unencodable {
            what: "empty message",
        });
    }
    match framing {
        Framing::Len4 => {
            let len = u32::try_from(msg.len()).map_err(|_| FrameError::Unencodable {
                what: "message longer than 4 GiB",
            })?;
            Ok(Wrap {
                head: len.to_be_bytes(),
                head_len: 4,
                tail_len: 0,
            })
        }
        Framing::StxEtx => {
            if memchr::memchr2(STX, ETX, msg).is_some() {
                return Err(FrameError::Unencodable {
                    what: "message contains STX or ETX",
                });
            }
            Ok(Wrap {
                head: [STX, 0, 0, 0],
                head_len: 1,
                tail_len: 1,
            })
        }
    }
}

/// Writes one message in `framing` into `dst`.
pub fn encode_into(framing: Framing, msg: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
    let w = wrap(framing, msg)?;
    dst.reserve(w.head().len() + msg.len() + w.tail().len());
    dst.extend_from_slice(w.head());
    dst.extend_from_slice(msg);
    dst.extend_from_slice(w.tail());
    Ok(())
}

/// Convenience: frame one message into a fresh buffer.
pub fn encode(framing: Framing, msg: &[u8]) -> Result<Bytes, FrameError> {
    let mut b = BytesMut::with_capacity(msg.len() + framing.overhead());
    encode_into(framing, msg, &mut b)?;
    Ok(b.freeze())
}

/// `tokio_util` codec over [`check`]: yields each message as `Bytes` (no copy
/// of the payload; the frame header/trailer is split off).
#[derive(Debug, Clone)]
pub struct FrameCodec {
    framing: Framing,
    max: usize,
    /// Bytes after the current STX already known to hold no ETX.
    scanned: usize,
    /// Stream offset of the first byte still in the decode buffer.
    offset: u64,
}

impl FrameCodec {
    /// A codec for `framing` refusing messages over `max` bytes.
    pub fn new(framing: Framing, max: usize) -> Self {
        FrameCodec {
            framing,
            max,
            scanned: 0,
            offset: 0,
        }
    }

    /// The framing this codec speaks.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Stream offset of the next undecoded byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match check(self.framing, src, self.max, self.scanned, self.offset)? {
            Some(span) => {
                let mut frame = src.split_to(span.total);
                frame.truncate(span.end);
                frame.advance(span.start);
                self.offset += span.total as u64;
                self.scanned = 0;
                Ok(Some(frame.freeze()))
            }
            None => {
                // No reservation of an announced length: a peer that
                // announces 8 MiB and trickles bytes must not pin 8 MiB.
                if self.framing == Framing::StxEtx {
                    self.scanned = src.len().saturating_sub(1);
                }
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                offset: self.offset,
                have: src.len(),
            }),
        }
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), FrameError> {
        let msg = item.as_ref();
        if msg.len() > self.max {
            return Err(FrameError::Unencodable {
                what: "message over the configured maximum",
            });
        }
        encode_into(self.framing, msg, dst)
    }
}

/// Splits a whole in-memory stream into frames (for tools and tests).
/// Returns the frames decoded before the first error, and that error.
pub fn split_all(framing: Framing, data: &[u8], max: usize) -> (Vec<Bytes>, Option<FrameError>) {
    let mut codec = FrameCodec::new(framing, max);
    let mut buf = BytesMut::from(data);
    let mut out = Vec::new();
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => out.push(f),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_chunked(
        framing: Framing,
        data: &[u8],
        cuts: &[usize],
        max: usize,
    ) -> (Vec<Bytes>, Option<FrameError>) {
        let mut codec = FrameCodec::new(framing, max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        bounds.sort_unstable();
        bounds.push(data.len());
        for b in bounds {
            if b < pos {
                continue;
            }
            buf.extend_from_slice(&data[pos..b]);
            pos = b;
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(f)) => out.push(f),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => {
                out.push(f);
                (out, None)
            }
            Ok(None) => (out, None),
            Err(e) => (out, Some(e)),
        }
    }

    #[test]
    fn len4_roundtrip_and_incomplete() {
        let f = encode(Framing::Len4, b"DQ.X").unwrap();
        assert_eq!(&f[..], b"\0\0\0\x04DQ.X");
        let mut c = FrameCodec::new(Framing::Len4, 16);
        let mut b = BytesMut::from(&f[..6]);
        assert_eq!(c.decode(&mut b).unwrap(), None);
        b.extend_from_slice(&f[6..]);
        assert_eq!(
            c.decode(&mut b).unwrap().unwrap(),
            Bytes::from_static(b"DQ.X")
        );
        assert_eq!(c.offset(), 8);
    }

    #[test]
    fn len4_errors() {
        let (_, e) = split_all(Framing::Len4, b"\0\0\0\0", 16);
        assert_eq!(e.unwrap().reason(), "frame_malformed");
        let (_, e) = split_all(Framing::Len4, b"\0\0\x01\0", 16);
        assert!(matches!(
            e,
            Some(FrameError::Oversized {
                size: 256,
                max: 16,
                ..
            })
        ));
        let (frames, e) = split_all(Framing::Len4, b"\0\0\0\x01A\0\0\0\x05AB", 16);
        assert_eq!(frames.len(), 1);
        assert_eq!(e, Some(FrameError::Truncated { offset: 5, have: 6 }));
    }

    #[test]
    fn stx_etx_errors() {
        let (_, e) = split_all(Framing::StxEtx, b"x\x02A\x03", 16);
        assert!(matches!(e, Some(FrameError::Malformed { offset: 0, .. })));
        let (f, e) = split_all(Framing::StxEtx, b"\x02A\x03\x02B\x02C\x03", 16);
        assert_eq!(f.len(), 1);
        assert!(matches!(e, Some(FrameError::Malformed { offset: 5, .. })));
        let (_, e) = split_all(Framing::StxEtx, b"\x02\x03", 16);
        assert!(matches!(e, Some(FrameError::Malformed { .. })));
        let long = [&[STX][..], &[b'a'; 20][..]].concat();
        let (_, e) = split_all(Framing::StxEtx, &long, 16);
        assert!(matches!(e, Some(FrameError::Oversized { .. })));
        let (_, e) = split_all(Framing::StxEtx, b"\x02abc", 16);
        assert!(matches!(
            e,
            Some(FrameError::Truncated { offset: 0, have: 4 })
        ));
        assert!(encode(Framing::StxEtx, b"a\x03b").is_err());
    }

    #[test]
    fn oversize_boundary_is_exact() {
        let ok = encode(Framing::Len4, &[b'a'; 16]).unwrap();
        assert_eq!(split_all(Framing::Len4, &ok, 16).0.len(), 1);
        let ok = encode(Framing::StxEtx, &[b'a'; 16]).unwrap();
        assert_eq!(split_all(Framing::StxEtx, &ok, 16).0.len(), 1);
        let bad = encode(Framing::StxEtx, &[b'a'; 17]).unwrap();
        assert!(split_all(Framing::StxEtx, &bad, 16).1.is_some());
    }

    proptest! {
        #[test]
        fn any_chunking_gives_same_frames(
            msgs in proptest::collection::vec(proptest::collection::vec(4u8..=255, 1..200), 1..12),
            cuts in proptest::collection::vec(any::<usize>(), 0..40),
            stx in any::<bool>(),
        ) {
            let framing = if stx { Framing::StxEtx } else { Framing::Len4 };
            let mut stream = BytesMut::new();
            for m in &msgs { encode_into(framing, m, &mut stream).unwrap(); }
            let (whole, e1) = split_all(framing, &stream, 1024);
            let (chunked, e2) = decode_chunked(framing, &stream, &cuts, 1024);
            prop_assert!(e1.is_none() && e2.is_none());
            prop_assert_eq!(&whole, &chunked);
            let expect: Vec<Bytes> = msgs.iter().map(|m| Bytes::copy_from_slice(m)).collect();
            prop_assert_eq!(whole, expect);
        }

        #[test]
        fn garbage_never_panics_and_chunking_agrees(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
            stx in any::<bool>(),
        ) {
            let framing = if stx { Framing::StxEtx } else { Framing::Len4 };
            let (a, ea) = split_all(framing, &data, 64);
            let (b, eb) = decode_chunked(framing, &data, &cuts, 64);
            prop_assert_eq!(a, b);
            prop_assert_eq!(ea.map(|e| e.reason()), eb.map(|e| e.reason()));
        }
    }
}
