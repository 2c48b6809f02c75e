//! Loading captures for replay: raw framed streams, and pcap/pcapng files
//! (e.g. from tcpdump on the link) whose TCP streams are reassembled per
//! direction and split with the configured framing.

use etherparse::{SlicedPacket, TransportSlice};
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError};
use std::collections::BTreeMap;

/// One direction of one TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    /// Source address and port.
    pub src: (std::net::IpAddr, u16),
    /// Destination address and port.
    pub dst: (std::net::IpAddr, u16),
}

/// True when `data` starts like a pcap or pcapng file.
pub fn is_pcap(data: &[u8]) -> bool {
    matches!(
        data.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0xc3, 0xd4])
            | Some([0x4d, 0x3c, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d])
            | Some([0x0a, 0x0d, 0x0d, 0x0a])
    )
}

#[derive(Default)]
struct Flow {
    /// Segments by (relative) sequence number, with their capture time.
    segs: BTreeMap<u32, (Vec<u8>, u64)>,
    isn: Option<u32>,
}

/// A reassembled TCP flow: its bytes, and for each captured segment that
/// contributed bytes the stream offset it starts at and its capture time
/// (microseconds since the Unix epoch), in stream order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimedStream {
    /// The flow's bytes in order.
    pub bytes: Vec<u8>,
    /// `(offset, time_us)` of each segment, offsets increasing.
    pub times: Vec<(usize, u64)>,
}

impl TimedStream {
    /// Capture time of the segment holding byte `offset` (the last segment
    /// when past the end; 0 for an empty stream).
    pub fn time_at(&self, offset: usize) -> u64 {
        time_at(&self.times, offset)
    }
}

/// Capture time of the segment holding byte `offset` among `times`
/// (`(offset, time_us)`, offsets increasing).
pub fn time_at(times: &[(usize, u64)], offset: usize) -> u64 {
    let i = times.partition_point(|(o, _)| *o <= offset);
    times.get(i.saturating_sub(1)).map_or(0, |(_, t)| *t)
}

fn sliced(linktype: Linktype, data: &[u8]) -> Option<SlicedPacket<'_>> {
    match linktype {
        Linktype::ETHERNET => SlicedPacket::from_ethernet(data).ok(),
        Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok(),
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => SlicedPacket::from_ip(data).ok(),
        // Loopback on BSD (a 4-byte family header), seen in some captures.
        Linktype::NULL | Linktype::LOOP => {
            data.get(4..).and_then(|d| SlicedPacket::from_ip(d).ok())
        }
        _ => None,
    }
}

fn add(flows: &mut BTreeMap<FlowKey, Flow>, linktype: Linktype, data: &[u8], ts_us: u64) {
    let Some(p) = sliced(linktype, data) else {
        return;
    };
    let (src, dst) = match &p.net {
        Some(etherparse::NetSlice::Ipv4(ip)) => (
            std::net::IpAddr::V4(ip.header().source_addr()),
            std::net::IpAddr::V4(ip.header().destination_addr()),
        ),
        Some(etherparse::NetSlice::Ipv6(ip)) => (
            std::net::IpAddr::V6(ip.header().source_addr()),
            std::net::IpAddr::V6(ip.header().destination_addr()),
        ),
        _ => return,
    };
    let Some(TransportSlice::Tcp(tcp)) = &p.transport else {
        return;
    };
    let key = FlowKey {
        src: (src, tcp.source_port()),
        dst: (dst, tcp.destination_port()),
    };
    let flow = flows.entry(key).or_default();
    let seq = tcp.sequence_number();
    if tcp.syn() {
        flow.isn = Some(seq.wrapping_add(1));
        return;
    }
    let payload = tcp.payload();
    if payload.is_empty() {
        return;
    }
    let base = *flow.isn.get_or_insert(seq);
    let rel = seq.wrapping_sub(base);
    // Keep the longest copy of a retransmitted segment (and the time of
    // the first copy seen).
    let slot = flow.segs.entry(rel).or_insert_with(|| (Vec::new(), ts_us));
    if payload.len() > slot.0.len() {
        slot.0 = payload.to_vec();
    }
}

/// Microseconds from seconds and a fraction in `units_per_sec` units.
fn micros(secs: u64, frac: u64, units_per_sec: u64) -> u64 {
    let frac_us = if units_per_sec == 0 {
        0
    } else {
        (frac as u128 * 1_000_000 / units_per_sec as u128) as u64
    };
    secs.saturating_mul(1_000_000).saturating_add(frac_us)
}

/// A capture that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PcapReadError {
    /// Neither a pcap nor a pcapng header (the parser's reason).
    #[error("not a pcap/pcapng file: {0}")]
    NotPcap(String),
    /// The file stops in the middle of a block.
    #[error("capture ends inside a block")]
    Truncated,
    /// A block the parser refuses (its reason).
    #[error("pcap: {0}")]
    Block(String),
}

/// Reassembles every TCP flow of a pcap/pcapng capture into its byte stream.
pub fn tcp_streams(data: &[u8]) -> Result<BTreeMap<FlowKey, Vec<u8>>, PcapReadError> {
    Ok(tcp_streams_timed(data)?
        .into_iter()
        .map(|(k, s)| (k, s.bytes))
        .collect())
}

/// Reassembles every TCP flow of a pcap/pcapng capture, keeping when each
/// segment was captured (for replay at the recorded timing).
pub fn tcp_streams_timed(data: &[u8]) -> Result<BTreeMap<FlowKey, TimedStream>, PcapReadError> {
    let mut reader = pcap_parser::create_reader(1 << 20, data)
        .map_err(|e| PcapReadError::NotPcap(format!("{e:?}")))?;
    let mut flows: BTreeMap<FlowKey, Flow> = BTreeMap::new();
    let mut legacy_link = Linktype::ETHERNET;
    let mut legacy_units = 1_000_000u64;
    // Per pcapng interface: link type, timestamp units per second, offset.
    let mut ng_links: Vec<(Linktype, u64, u64)> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = h.network;
                        legacy_units = if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        };
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let t = micros(b.ts_sec as u64, b.ts_usec as u64, legacy_units);
                        add(&mut flows, legacy_link, b.data, t)
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ng_links.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => ng_links.push((
                        idb.linktype,
                        idb.ts_resolution().unwrap_or(1_000_000),
                        idb.ts_offset().max(0) as u64,
                    )),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let (lt, units, off) = ng_links
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or((Linktype::ETHERNET, 1_000_000, 0));
                        let (s, f) = epb.decode_ts(off, units);
                        let len = (epb.caplen as usize).min(epb.data.len());
                        add(
                            &mut flows,
                            lt,
                            &epb.data[..len],
                            micros(s as u64, f as u64, units),
                        );
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        // Simple packets carry no timestamp.
                        let lt = ng_links.first().map_or(Linktype::ETHERNET, |l| l.0);
                        add(&mut flows, lt, spb.data, 0);
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    return Err(PcapReadError::Truncated);
                }
            }
            Err(e) => return Err(PcapReadError::Block(format!("{e:?}"))),
        }
    }
    Ok(reassemble(flows))
}

/// Each flow's segments laid end to end in sequence order, up to the first
/// gap; flows with no bytes are left out.
fn reassemble(flows: BTreeMap<FlowKey, Flow>) -> BTreeMap<FlowKey, TimedStream> {
    let mut out = BTreeMap::new();
    for (k, f) in flows {
        let mut s = TimedStream::default();
        for (rel, (seg, t)) in f.segs {
            let rel = rel as usize;
            if rel > s.bytes.len() {
                // A gap: bytes were not captured. Stop this flow here.
                break;
            }
            let overlap = s.bytes.len() - rel;
            if overlap < seg.len() {
                s.times.push((s.bytes.len(), t));
                s.bytes.extend_from_slice(&seg[overlap..]);
            }
        }
        if !s.bytes.is_empty() {
            out.insert(k, s);
        }
    }
    out
}

/// One endpoint of a synthetic TCP connection: IPv4 address and port.
pub type Endpoint = ([u8; 4], u16);

/// Writes a pcap (Ethernet, IPv4, microsecond timestamps) of one TCP
/// connection as a real stack would put it on the wire: the three-way
/// handshake, data in segments of at most `mss` bytes in both directions
/// with sequence and acknowledgement numbers that follow each other, an
/// acknowledgement from the receiver after every message (and every
/// [`ACK_EVERY`] segments, so the window never fills), and a FIN from each
/// side at the end. Wireshark and tshark read it as one clean stream.
pub struct TcpConversation {
    out: Vec<u8>,
    client: Endpoint,
    server: Endpoint,
    /// Next sequence number of the client and of the server.
    next: [u32; 2],
    /// Time of the last packet, microseconds since the Unix epoch
    /// (timestamps never go backwards).
    last_us: u64,
}

/// A receiver acknowledges at least every this many segments.
pub const ACK_EVERY: usize = 8;
/// Gap between packets written for one event (segments of one message,
/// the handshake), microseconds.
const PACKET_GAP_US: u64 = 5;
/// Initial sequence numbers (client, server): fixed, so output is
/// deterministic.
const ISN: [u32; 2] = [1000, 500_000];

impl TcpConversation {
    /// Starts the capture: the global header and the handshake (client SYN,
    /// server SYN-ACK, client ACK) at `start_us` (microseconds since the
    /// Unix epoch).
    pub fn new(client: Endpoint, server: Endpoint, start_us: u64) -> TcpConversation {
        let mut c = TcpConversation {
            out: Vec::with_capacity(1 << 16),
            client,
            server,
            next: ISN,
            last_us: start_us,
        };
        // Global header: magic, v2.4, tz 0, sigfigs 0, snaplen, linktype 1.
        c.out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        c.out.extend_from_slice(&2u16.to_le_bytes());
        c.out.extend_from_slice(&4u16.to_le_bytes());
        c.out.extend_from_slice(&[0; 8]);
        c.out.extend_from_slice(&262_144u32.to_le_bytes());
        c.out.extend_from_slice(&1u32.to_le_bytes());
        c.packet(0, start_us, Flags::SYN, &[]);
        c.next[0] = c.next[0].wrapping_add(1);
        c.packet(1, start_us + PACKET_GAP_US, Flags::SYN_ACK, &[]);
        c.next[1] = c.next[1].wrapping_add(1);
        c.packet(0, start_us + 2 * PACKET_GAP_US, Flags::ACK, &[]);
        c
    }

    /// `data` from the client (`from_client`) or the server at `at_us`, in
    /// segments of at most `mss` bytes, then the receiver's acknowledgement.
    pub fn send(&mut self, from_client: bool, data: &[u8], at_us: u64, mss: usize) {
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };
        let mut t = at_us.max(self.last_us);
        let mut acked = true;
        for (i, chunk) in data.chunks(mss.max(1)).enumerate() {
            self.packet(me, t, Flags::PSH_ACK, chunk);
            self.next[me] = self.next[me].wrapping_add(chunk.len() as u32);
            t += PACKET_GAP_US;
            acked = (i + 1) % ACK_EVERY == 0;
            if acked {
                self.packet(peer, t, Flags::ACK, &[]);
                t += PACKET_GAP_US;
            }
        }
        if !acked {
            self.packet(peer, t, Flags::ACK, &[]);
        }
    }

    /// Closes the connection at `at_us` (client FIN, server FIN, client
    /// ACK) and returns the capture.
    pub fn finish(mut self, at_us: u64) -> Vec<u8> {
        let t = at_us.max(self.last_us);
        self.packet(0, t, Flags::FIN_ACK, &[]);
        self.next[0] = self.next[0].wrapping_add(1);
        self.packet(1, t + PACKET_GAP_US, Flags::FIN_ACK, &[]);
        self.next[1] = self.next[1].wrapping_add(1);
        self.packet(0, t + 2 * PACKET_GAP_US, Flags::ACK, &[]);
        self.out
    }

    /// One packet from side `me` (0 = client) with the current numbers.
    fn packet(&mut self, me: usize, at_us: u64, flags: Flags, payload: &[u8]) {
        let (src, dst, smac, dmac) = if me == 0 {
            (self.client, self.server, CLIENT_MAC, SERVER_MAC)
        } else {
            (self.server, self.client, SERVER_MAC, CLIENT_MAC)
        };
        let mut b = etherparse::PacketBuilder::ethernet2(smac, dmac)
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, self.next[me], 65535);
        if flags.syn {
            b = b.syn();
        }
        if flags.fin {
            b = b.fin();
        }
        if flags.psh {
            b = b.psh();
        }
        if flags.ack {
            b = b.ack(self.next[1 - me]);
        }
        let mut pkt = Vec::with_capacity(54 + payload.len());
        // Writing into a Vec cannot fail; a payload too large for one IPv4
        // packet is the caller's bug (mss is at most 1460 here).
        if b.write(&mut pkt, payload).is_err() {
            return;
        }
        let at_us = at_us.max(self.last_us);
        self.last_us = at_us;
        let secs = (at_us / 1_000_000).min(u32::MAX as u64) as u32;
        let micros = (at_us % 1_000_000) as u32;
        self.out.extend_from_slice(&secs.to_le_bytes());
        self.out.extend_from_slice(&micros.to_le_bytes());
        self.out
            .extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        self.out
            .extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&pkt);
    }
}

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

#[derive(Clone, Copy)]
struct Flags {
    syn: bool,
    fin: bool,
    psh: bool,
    ack: bool,
}

impl Flags {
    const SYN: Flags = Flags {
        syn: true,
        fin: false,
        psh: false,
        ack: false,
    };
    const SYN_ACK: Flags = Flags {
        ack: true,
        ..Flags::SYN
    };
    const ACK: Flags = Flags {
        syn: false,
        fin: false,
        psh: false,
        ack: true,
    };
    const PSH_ACK: Flags = Flags {
        psh: true,
        ..Flags::ACK
    };
    const FIN_ACK: Flags = Flags {
        fin: true,
        ..Flags::ACK
    };
}

/// Writes a pcap of one TCP connection carrying `stream` from `src` to
/// `dst` (handshake, data, close; one packet every millisecond). For tests
/// and for turning a framed stream into a capture.
pub fn write_pcap(stream: &[u8], src: Endpoint, dst: Endpoint, mss: usize) -> Vec<u8> {
    let mut c = TcpConversation::new(src, dst, SYNTHETIC_EPOCH_US);
    let mut t = SYNTHETIC_EPOCH_US;
    for chunk in stream.chunks(mss.max(1)) {
        t += 1000;
        c.send(true, chunk, t, mss);
    }
    c.finish(t + 1000)
}

/// 2025-01-01T00:00:00Z in microseconds: the default start of synthetic
/// captures, so they are deterministic.
pub const SYNTHETIC_EPOCH_US: u64 = 1_735_689_600_000_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::select::Select;
    use crate::capture::source::load;
    use crate::capture::stream::InputFraming;
    use crate::framing::encode;
    use crate::framing::Framing;

    #[test]
    fn conversation_both_ways_with_handshake_numbers_and_times() {
        let (c, srv) = (([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 7101));
        let t0 = SYNTHETIC_EPOCH_US;
        let mut conv = TcpConversation::new(c, srv, t0);
        conv.send(true, &[b'q'; 3000], t0 + 1_000, 1448);
        conv.send(false, b"response", t0 + 2_000, 1448);
        conv.send(true, b"second", t0 + 3_000, 1448);
        let pcap = conv.finish(t0 + 4_000);
        let flows = tcp_streams_timed(&pcap).unwrap();
        assert_eq!(flows.len(), 2);
        let mut it = flows.values();
        let (up, down) = (it.next().unwrap(), it.next().unwrap());
        assert_eq!(up.bytes.len(), 3006);
        assert_eq!(&down.bytes[..], b"response");
        // Three segments of the first message, one of the second.
        assert_eq!(up.times.len(), 4);
        assert_eq!(up.time_at(0), t0 + 1_000);
        assert_eq!(up.time_at(2999), t0 + 1_010);
        assert_eq!(up.time_at(3000), t0 + 3_000);
        assert_eq!(down.time_at(0), t0 + 2_000);
        // Every packet's numbers: a data segment starts where the previous
        // one of its side ended; every ACK acknowledges all the peer sent.
        let mut reader = pcap_parser::create_reader(1 << 20, &pcap[..]).unwrap();
        let mut next = [None::<u32>; 2];
        let mut sent = [0u32; 2];
        let mut packets = 0;
        loop {
            match reader.next() {
                Ok((off, PcapBlockOwned::Legacy(b))) => {
                    {
                        let p = SlicedPacket::from_ethernet(b.data).unwrap();
                        let Some(TransportSlice::Tcp(t)) = p.transport else {
                            panic!()
                        };
                        let me = usize::from(t.source_port() == 7101);
                        if let Some(n) = next[me] {
                            assert_eq!(t.sequence_number(), n, "packet {packets}");
                        }
                        let adv = t.payload().len() as u32 + u32::from(t.syn() || t.fin());
                        next[me] = Some(t.sequence_number().wrapping_add(adv));
                        sent[me] = sent[me].wrapping_add(adv);
                        if t.ack() {
                            assert_eq!(Some(t.acknowledgment_number()), next[1 - me]);
                        }
                        packets += 1;
                    }
                    reader.consume(off);
                }
                Ok((off, _)) => reader.consume(off),
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
                Err(e) => panic!("{e:?}"),
            }
        }
        // SYN + FIN count one each.
        assert_eq!(sent, [3006 + 2, 8 + 2]);
        assert!(packets > 10);
    }

    #[test]
    fn pcap_roundtrip_with_segmentation_and_retransmit() {
        let msgs: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("DQ.AZNLETS20.CO.TXT\nSEQ/{i:04}").into_bytes())
            .collect();
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend_from_slice(&encode(Framing::Len4, m).unwrap());
        }
        let pcap = write_pcap(&stream, ([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 7101), 37);
        assert!(is_pcap(&pcap));
        let flows = tcp_streams(&pcap).unwrap();
        assert_eq!(flows.len(), 1);
        assert_eq!(flows.values().next().unwrap(), &stream);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.pcap");
        std::fs::write(&p, &pcap).unwrap();
        let got = load(
            p.to_str().unwrap(),
            InputFraming::Framed(Framing::Len4),
            &Select::default(),
            1 << 20,
        )
        .unwrap();
        assert_eq!(got.len(), 50);
        assert_eq!(&got[7][..], &msgs[7][..]);
        let port = Select {
            port: 9999,
            ..Select::default()
        };
        assert!(load(p.to_str().unwrap(), InputFraming::Auto, &port, 1 << 20).is_err());
    }
}
