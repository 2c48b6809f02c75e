//! One capture reader for every offline command: a framed stream (file or
//! stdin) or a pcap/pcapng file, whose TCP streams are reassembled and split
//! with the same framing rules. A pcap is recognised by its magic number,
//! never read as one unframed message.

use super::pcap::{is_pcap, tcp_streams_timed, TimedStream};
use super::stream::{FrameReader, InputFraming, ReadError};
use crate::framing::Framing;
use bytes::Bytes;
use std::io::{self, BufRead, BufReader, Cursor, Read};

/// One reassembled pcap flow being split: its reader and the capture time
/// of each of its segments (`(offset, time_us)`).
pub type TimedReader = (FrameReader<Cursor<Vec<u8>>>, Vec<(usize, u64)>);

/// Messages from a capture, in order.
pub enum Source {
    /// A framed stream (or one unframed message).
    Stream(FrameReader<BufReader<Box<dyn Read>>>),
    /// The TCP streams of a pcap, one after the other.
    Pcap {
        /// Streams not started yet (last first).
        rest: Vec<TimedStream>,
        /// The stream being read, with its segments' capture times.
        current: Option<TimedReader>,
        /// Input framing for each stream.
        mode: InputFraming,
        /// Largest message.
        max: usize,
    },
}

impl Source {
    /// Opens `path` (`-` is stdin). For a pcap, only flows to `port` when given.
    pub fn open(
        path: &str,
        mode: InputFraming,
        port: Option<u16>,
        max: usize,
    ) -> Result<Source, ReadError> {
        let mut r = BufReader::with_capacity(64 * 1024, super::stream::open_input(path)?);
        let head = r.fill_buf()?;
        if head.len() >= 4 && is_pcap(head) {
            let mut data = Vec::new();
            r.read_to_end(&mut data)?;
            let mut rest: Vec<TimedStream> = tcp_streams_timed(&data)
                .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?
                .into_iter()
                .filter(|(k, _)| port.is_none_or(|p| k.dst.1 == p))
                .map(|(_, s)| s)
                .collect();
            rest.reverse();
            return Ok(Source::Pcap {
                rest,
                current: None,
                mode,
                max,
            });
        }
        Ok(Source::Stream(FrameReader::new(r, mode, max)))
    }

    /// The next message, `None` at the end.
    pub fn next_message(&mut self) -> Option<Result<Bytes, ReadError>> {
        self.next_timed().map(|r| r.map(|(m, _)| m))
    }

    /// The next message and, from a pcap, when its last byte was captured
    /// (microseconds since the Unix epoch); `None` at the end.
    pub fn next_timed(&mut self) -> Option<Result<(Bytes, Option<u64>), ReadError>> {
        match self {
            Source::Stream(r) => r.next_message().map(|m| m.map(|m| (m, None))),
            Source::Pcap {
                rest,
                current,
                mode,
                max,
            } => loop {
                if let Some((r, times)) = current {
                    if let Some(m) = r.next_message() {
                        let end = r.offset().saturating_sub(1) as usize;
                        let at = super::pcap::time_at(times, end);
                        return Some(m.map(|m| (m, Some(at))));
                    }
                }
                let s = rest.pop()?;
                *current = Some((FrameReader::new(Cursor::new(s.bytes), *mode, *max), s.times));
            },
        }
    }

    /// The framing in use once decided (None for an unframed message).
    pub fn framing(&self) -> Option<Framing> {
        match self {
            Source::Stream(r) => r.framing(),
            Source::Pcap { current, .. } => current.as_ref().and_then(|(r, _)| r.framing()),
        }
    }
}

/// Every message of a capture, in memory (for the load tester and
/// `policy profile --learn`, which replay or tally them whole).
pub fn load(
    path: &str,
    framing: InputFraming,
    port: Option<u16>,
    max: usize,
) -> Result<Vec<Bytes>, String> {
    let mut src = Source::open(path, framing, port, max).map_err(|e| format!("{path}: {e}"))?;
    let mut msgs = Vec::new();
    while let Some(m) = src.next_message() {
        msgs.push(m.map_err(|e| format!("{path}: after {} messages: {e}", msgs.len()))?);
    }
    Ok(msgs)
}

/// Every message of a capture with its capture time (pcap only; `None`
/// for a framed stream), in memory: for replay at the recorded timing.
pub fn load_timed(
    path: &str,
    framing: InputFraming,
    port: Option<u16>,
    max: usize,
) -> Result<Vec<(Bytes, Option<u64>)>, String> {
    let mut src = Source::open(path, framing, port, max).map_err(|e| format!("{path}: {e}"))?;
    let mut msgs = Vec::new();
    while let Some(m) = src.next_timed() {
        msgs.push(m.map_err(|e| format!("{path}: after {} messages: {e}", msgs.len()))?);
    }
    Ok(msgs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_is_split_not_read_as_one_message() {
        let mut stream = Vec::new();
        for i in 0..7 {
            stream.extend_from_slice(
                &crate::framing::encode(
                    Framing::Len4,
                    format!("DQ.AZNLETS20.CO.TXT\nNAM/{i}").as_bytes(),
                )
                .unwrap(),
            );
        }
        let pcap = super::super::pcap::write_pcap(
            &stream,
            ([10, 0, 0, 1], 4000),
            ([10, 0, 0, 2], 7101),
            100,
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.pcap");
        std::fs::write(&p, pcap).unwrap();
        let mut s = Source::open(p.to_str().unwrap(), InputFraming::Auto, None, 1 << 20).unwrap();
        let mut n = 0;
        while let Some(m) = s.next_message() {
            assert!(m.unwrap().starts_with(b"DQ."));
            n += 1;
        }
        assert_eq!(n, 7);
        assert_eq!(s.framing(), Some(Framing::Len4));
        // Filtered by port: no flow to 9.
        let mut s =
            Source::open(p.to_str().unwrap(), InputFraming::Auto, Some(9), 1 << 20).unwrap();
        assert!(s.next_message().is_none());
    }
}
