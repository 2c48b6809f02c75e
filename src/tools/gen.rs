//! `origuard gen`: synthetic traffic to a framed stream or a pcap.

use crate::capture::gen::{Generator, Turn};
use crate::capture::pcap::TcpConversation;
use crate::framing::Framing;
use bytes::Bytes;

/// The synthetic switch (client) and proxy (server) of a generated pcap.
const CLIENT: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
const SERVER: ([u8; 4], u16) = ([10, 0, 0, 2], 7101);
/// Segment size of a generated pcap (Ethernet MTU less headers).
const MSS: usize = 1448;
/// Delay between a query and its response in a generated pcap, at most.
const THINK_US: u64 = 2_000;

/// `origuard gen`.
// Long: each option checked in turn, then one loop writing a file per direction.
pub fn command(c: crate::tools::cli::GenCli) -> u8 {
    let crate::tools::cli::GenCli {
        count,
        seed,
        framing,
        mix,
        direction,
        format,
        rate,
        start,
        out,
    } = c;
    let (direction, format, out) = (direction.as_str(), format.as_str(), out.as_str());
    let dirs: Vec<(bool, String)> = match direction {
        "inbound" => vec![(true, out.to_string())],
        "outbound" => vec![(false, out.to_string())],
        "both" if out == "-" => {
            eprintln!("origuard gen: --direction both writes two files; give a file name, not -");
            return super::common::EX_USAGE;
        }
        "both" => vec![
            (true, format!("{out}.inbound")),
            (false, format!("{out}.outbound")),
        ],
        o => {
            eprintln!("origuard gen: --direction {o:?}: expected inbound, outbound or both");
            return super::common::EX_USAGE;
        }
    };
    if format != "stream" && format != "pcap" {
        eprintln!("origuard gen: --format {format:?}: expected stream or pcap");
        return super::common::EX_USAGE;
    }
    if !(rate.is_finite() && rate > 0.0) {
        eprintln!("origuard gen: --rate {rate}: a positive number of messages per second");
        return super::common::EX_USAGE;
    }
    let start_us = match start_time(&start) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("origuard gen: --start {start:?}: {e} (RFC 3339 such as 2025-01-01T00:00:00Z, or now)");
            return super::common::EX_USAGE;
        }
    };
    for (inbound, path) in dirs {
        let mut g = Generator::new(seed.wrapping_add(inbound as u64), mix);
        let msgs: Vec<Bytes> = (0..count).map(|_| g.message(inbound)).collect();
        let data = if format == "pcap" {
            // The counterparts come from their own generator, so the flow to
            // port 7101 carries exactly the messages of `--format stream`.
            let mut other = Generator::new(seed.wrapping_add(inbound as u64) ^ 0x5eed, mix);
            conversation(&msgs, &mut other, framing, start_us, rate)
        } else {
            framed(&msgs, framing)
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                eprintln!("origuard gen: {e}");
                return 1;
            }
        };
        // `-` is standard output (one direction only).
        let written = if path == "-" {
            use std::io::Write;
            std::io::stdout().lock().write_all(&data)
        } else {
            std::fs::write(&path, &data)
        };
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return 0;
            }
            eprintln!("origuard gen: {path}: {e}");
            return 1;
        }
        eprintln!(
            "origuard gen: {count} {} messages, {} bytes -> {path}",
            if inbound { "inbound" } else { "outbound" },
            data.len()
        );
    }
    0
}

/// Microseconds since the Unix epoch of `--start`.
fn start_time(s: &str) -> Result<u64, String> {
    let t = if s == "now" {
        std::time::SystemTime::now()
    } else {
        humantime::parse_rfc3339(s).map_err(|e| e.to_string())?
    };
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .map_err(|_| "before 1970".to_string())
}

fn framed(msgs: &[Bytes], framing: Framing) -> Result<Vec<u8>, String> {
    let mut stream = Vec::new();
    let mut buf = bytes::BytesMut::new();
    for m in msgs {
        buf.clear();
        crate::framing::encode_into(framing, m, &mut buf).map_err(|e| e.to_string())?;
        stream.extend_from_slice(&buf);
    }
    Ok(stream)
}

/// One TCP conversation: message `i` from the client at `start + i/rate`,
/// its counterpart from the server just before (a query answered by it) or
/// just after (the response to it).
fn conversation(
    msgs: &[Bytes],
    other: &mut Generator,
    framing: Framing,
    start_us: u64,
    rate: f64,
) -> Result<Vec<u8>, String> {
    let gap_us = (1e6 / rate).max(1.0) as u64;
    let think = (gap_us / 3).clamp(1, THINK_US);
    let mut c = TcpConversation::new(CLIENT, SERVER, start_us);
    // The first exchange starts a gap after the handshake.
    let mut t = start_us + gap_us;
    let mut buf = bytes::BytesMut::new();
    let mut frame = |m: &[u8]| -> Result<Vec<u8>, String> {
        buf.clear();
        crate::framing::encode_into(framing, m, &mut buf).map_err(|e| e.to_string())?;
        Ok(buf.to_vec())
    };
    for m in msgs {
        let mine = frame(m)?;
        match other.counterpart(m) {
            Some((q, Turn::Before)) => {
                c.send(false, &frame(&q)?, t, MSS);
                c.send(true, &mine, t + think, MSS);
            }
            Some((r, Turn::After)) => {
                c.send(true, &mine, t, MSS);
                c.send(false, &frame(&r)?, t + think, MSS);
            }
            None => c.send(true, &mine, t, MSS),
        }
        t += gap_us;
    }
    Ok(c.finish(t))
}
