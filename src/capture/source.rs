//! One capture reader for every offline command: a framed stream (file or
//! stdin) or a pcap/pcapng file, whose TCP streams are reassembled and split
//! with the same framing rules. A pcap is recognised by its magic number,
//! never read as one unframed message.

use super::pcap::{is_pcap, tcp_streams_timed, FlowKey, TimedStream};
use super::select::Select;
use super::stream::{FrameReader, InputFraming, ReadError};
use crate::framing::Framing;
use crate::message::Direction;
use bytes::Bytes;
use std::io::{self, BufRead, BufReader, Cursor, Read};

/// One reassembled pcap flow being split: its reader and the capture time
/// of each of its segments (`(offset, time_us)`).
pub type TimedReader = (FrameReader<Cursor<Vec<u8>>>, Vec<(usize, u64)>);

/// One pcap flow selected for reading, with the direction of its messages.
pub struct Flow {
    /// Its endpoints.
    pub key: FlowKey,
    /// The direction its messages travel (from the server port).
    pub direction: Direction,
    /// Its bytes and segment times.
    pub stream: TimedStream,
}

/// One message read from a capture.
#[derive(Clone, Debug)]
pub struct Item {
    /// The message.
    pub bytes: Bytes,
    /// From a pcap: when its last byte was captured (microseconds since
    /// the Unix epoch).
    pub time_us: Option<u64>,
    /// From a pcap: its flow and that flow's direction.
    pub flow: Option<(FlowKey, Direction)>,
}

/// Messages from a capture, in order.
pub enum Source {
    /// A framed stream (or one unframed message).
    Stream(FrameReader<BufReader<Box<dyn Read>>>),
    /// The selected TCP flows of a pcap, one after the other.
    Pcap {
        /// Flows not started yet (last first).
        rest: Vec<Flow>,
        /// The flow being read: its reader, segment times, key, direction.
        current: Option<(TimedReader, FlowKey, Direction)>,
        /// Input framing for each flow.
        mode: InputFraming,
        /// Largest message.
        max: usize,
        /// The time window.
        select: Select,
    },
}

impl Source {
    /// Opens `path` (`-` is stdin). From a pcap, only the flows and
    /// messages `select` names (`capture::select`); a pcap none of whose
    /// flows uses `select.port` is refused (its flows are listed), so a
    /// wrong port is never an empty result. A framed stream takes no flow
    /// or time selection.
    pub fn open(
        path: &str,
        mode: InputFraming,
        select: &Select,
        max: usize,
    ) -> Result<Source, ReadError> {
        let mut r = BufReader::with_capacity(64 * 1024, super::stream::open_input(path)?);
        let head = r.fill_buf()?;
        if head.len() >= 4 && is_pcap(head) {
            let mut data = Vec::new();
            r.read_to_end(&mut data)?;
            let all = tcp_streams_timed(&data)
                .map_err(|e| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
            if !all.is_empty() && all.keys().all(|k| select.flow_direction(k).is_none()) {
                let names: Vec<String> = all.keys().map(super::select::flow_name).collect();
                return Err(ReadError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "no TCP flow to or from port {} (flows: {}); give the server's port with --port",
                        select.port,
                        names.join(", ")
                    ),
                )));
            }
            let mut rest: Vec<Flow> = all
                .into_iter()
                .filter_map(|(key, stream)| {
                    let direction = select.wants_flow(&key)?;
                    Some(Flow {
                        key,
                        direction,
                        stream,
                    })
                })
                .collect();
            rest.reverse();
            return Ok(Source::Pcap {
                rest,
                current: None,
                mode,
                max,
                select: select.clone(),
            });
        }
        if !select.stream_compatible() {
            return Err(ReadError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--flow, --from and --until need a pcap capture (a framed stream has no flows or times)",
            )));
        }
        Ok(Source::Stream(FrameReader::new(r, mode, max)))
    }

    /// The next message, `None` at the end.
    pub fn next_message(&mut self) -> Option<Result<Bytes, ReadError>> {
        self.next_item().map(|r| r.map(|m| m.bytes))
    }

    /// The next message and, from a pcap, when its last byte was captured
    /// (microseconds since the Unix epoch); `None` at the end.
    pub fn next_timed(&mut self) -> Option<Result<(Bytes, Option<u64>), ReadError>> {
        self.next_item().map(|r| r.map(|m| (m.bytes, m.time_us)))
    }

    /// The next message with its time and flow; `None` at the end.
    pub fn next_item(&mut self) -> Option<Result<Item, ReadError>> {
        match self {
            Source::Stream(r) => r.next_message().map(|m| {
                m.map(|bytes| Item {
                    bytes,
                    time_us: None,
                    flow: None,
                })
            }),
            Source::Pcap {
                rest,
                current,
                mode,
                max,
                select,
            } => loop {
                if let Some(((r, times), key, dir)) = current {
                    match r.next_message() {
                        Some(Ok(bytes)) => {
                            let end = r.offset().saturating_sub(1) as usize;
                            let at = super::pcap::time_at(times, end);
                            if select.wants_time(at) {
                                return Some(Ok(Item {
                                    bytes,
                                    time_us: Some(at),
                                    flow: Some((*key, *dir)),
                                }));
                            }
                            continue;
                        }
                        Some(Err(e)) => return Some(Err(e)),
                        None => {}
                    }
                }
                let f = rest.pop()?;
                *current = Some((
                    (
                        FrameReader::new(Cursor::new(f.stream.bytes), *mode, *max),
                        f.stream.times,
                    ),
                    f.key,
                    f.direction,
                ));
            },
        }
    }

    /// The framing in use once decided (None for an unframed message).
    pub fn framing(&self) -> Option<Framing> {
        match self {
            Source::Stream(r) => r.framing(),
            Source::Pcap { current, .. } => current.as_ref().and_then(|((r, _), _, _)| r.framing()),
        }
    }
}

/// A capture that could not be loaded whole.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The capture could not be opened (or is not usable as given).
    #[error("{path}: {source}")]
    Open {
        /// The capture.
        path: String,
        /// Why.
        source: ReadError,
    },
    /// A message could not be read.
    #[error("{path}: after {after} messages: {source}")]
    Read {
        /// The capture.
        path: String,
        /// Messages read before it.
        after: usize,
        /// Why.
        source: ReadError,
    },
}

/// Every message of a capture, in memory (for the load tester and
/// `policy profile --learn`, which replay or tally them whole).
pub fn load(
    path: &str,
    framing: InputFraming,
    select: &Select,
    max: usize,
) -> Result<Vec<Bytes>, LoadError> {
    Ok(load_timed(path, framing, select, max)?
        .into_iter()
        .map(|(m, _)| m)
        .collect())
}

/// Every message of a capture with its capture time (pcap only; `None`
/// for a framed stream), in memory: for replay at the recorded timing.
pub fn load_timed(
    path: &str,
    framing: InputFraming,
    select: &Select,
    max: usize,
) -> Result<Vec<(Bytes, Option<u64>)>, LoadError> {
    let mut src = Source::open(path, framing, select, max).map_err(|source| LoadError::Open {
        path: path.to_string(),
        source,
    })?;
    let mut msgs = Vec::new();
    while let Some(m) = src.next_timed() {
        msgs.push(m.map_err(|source| LoadError::Read {
            path: path.to_string(),
            after: msgs.len(),
            source,
        })?);
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
        let all = Select::default();
        let mut s = Source::open(p.to_str().unwrap(), InputFraming::Auto, &all, 1 << 20).unwrap();
        let mut n = 0;
        while let Some(m) = s.next_message() {
            assert!(m.unwrap().starts_with(b"DQ."));
            n += 1;
        }
        assert_eq!(n, 7);
        assert_eq!(s.framing(), Some(Framing::Len4));
        // Only inbound: the capture has none.
        let inbound = Select::direction(Direction::Inbound);
        let mut s =
            Source::open(p.to_str().unwrap(), InputFraming::Auto, &inbound, 1 << 20).unwrap();
        assert!(s.next_message().is_none());
        // A port no flow uses is refused, naming the flows.
        let port9 = Select {
            port: 9,
            ..Select::default()
        };
        let e = Source::open(p.to_str().unwrap(), InputFraming::Auto, &port9, 1 << 20)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("10.0.0.1:4000 > 10.0.0.2:7101"), "{e}");
    }
}
