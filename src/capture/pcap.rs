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
    /// Segments by (relative) sequence number.
    segs: BTreeMap<u32, Vec<u8>>,
    isn: Option<u32>,
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

fn add(flows: &mut BTreeMap<FlowKey, Flow>, linktype: Linktype, data: &[u8]) {
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
    // Keep the longest copy of a retransmitted segment.
    let slot = flow.segs.entry(rel).or_default();
    if payload.len() > slot.len() {
        *slot = payload.to_vec();
    }
}

/// Reassembles every TCP flow of a pcap/pcapng capture into its byte stream.
pub fn tcp_streams(data: &[u8]) -> Result<BTreeMap<FlowKey, Vec<u8>>, String> {
    let mut reader = pcap_parser::create_reader(1 << 20, data)
        .map_err(|e| format!("not a pcap/pcapng file: {e:?}"))?;
    let mut flows: BTreeMap<FlowKey, Flow> = BTreeMap::new();
    let mut legacy_link = Linktype::ETHERNET;
    let mut ng_links: Vec<Linktype> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_link = h.network,
                    PcapBlockOwned::Legacy(b) => add(&mut flows, legacy_link, b.data),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ng_links.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        ng_links.push(idb.linktype)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let lt = ng_links
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or(Linktype::ETHERNET);
                        let len = (epb.caplen as usize).min(epb.data.len());
                        add(&mut flows, lt, &epb.data[..len]);
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let lt = ng_links.first().copied().unwrap_or(Linktype::ETHERNET);
                        add(&mut flows, lt, spb.data);
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if reader.refill().is_err() {
                    return Err("capture ends inside a block".into());
                }
            }
            Err(e) => return Err(format!("pcap: {e:?}")),
        }
    }
    let mut out = BTreeMap::new();
    for (k, f) in flows {
        let mut s: Vec<u8> = Vec::new();
        for (rel, seg) in f.segs {
            let rel = rel as usize;
            if rel > s.len() {
                // A gap: bytes were not captured. Stop this flow here.
                break;
            }
            let overlap = s.len() - rel;
            if overlap < seg.len() {
                s.extend_from_slice(&seg[overlap..]);
            }
        }
        if !s.is_empty() {
            out.insert(k, s);
        }
    }
    Ok(out)
}

/// Writes a pcap (Ethernet, IPv4) of one TCP connection carrying `stream`
/// from `src` to `dst`, in segments of at most `mss` bytes. For tests and
/// for turning synthetic streams into captures.
pub fn write_pcap(stream: &[u8], src: ([u8; 4], u16), dst: ([u8; 4], u16), mss: usize) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: magic, v2.4, tz 0, sigfigs 0, snaplen, linktype 1.
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut record = |pkt: &[u8], t: u32| {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        out.extend_from_slice(pkt);
    };
    let isn = 1000u32;
    let builder = || {
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src.0, dst.0, 64)
    };
    let mut syn = Vec::new();
    let _ = builder()
        .tcp(src.1, dst.1, isn, 65535)
        .syn()
        .write(&mut syn, &[]);
    record(&syn, 0);
    let mut seq = isn.wrapping_add(1);
    for (i, chunk) in stream.chunks(mss.max(1)).enumerate() {
        let mut pkt = Vec::new();
        let _ = builder()
            .tcp(src.1, dst.1, seq, 65535)
            .psh()
            .ack(1)
            .write(&mut pkt, chunk);
        record(&pkt, i as u32 / 1000);
        seq = seq.wrapping_add(chunk.len() as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::source::load;
    use crate::capture::stream::InputFraming;
    use crate::framing::encode;
    use crate::framing::Framing;

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
            Some(7101),
            1 << 20,
        )
        .unwrap();
        assert_eq!(got.len(), 50);
        assert_eq!(&got[7][..], &msgs[7][..]);
        assert!(
            load(p.to_str().unwrap(), InputFraming::Auto, Some(9999), 1 << 20)
                .unwrap()
                .is_empty()
        );
    }
}
