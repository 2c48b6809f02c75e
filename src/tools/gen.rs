//! `origuard gen`: synthetic traffic to a framed stream or a pcap.

/// `origuard gen`.
pub fn command(c: crate::tools::cli::GenCli) -> u8 {
    let crate::tools::cli::GenCli {
        count,
        seed,
        framing,
        mix,
        direction,
        format,
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
    for (inbound, path) in dirs {
        let mut g = crate::capture::gen::Generator::new(seed.wrapping_add(inbound as u64), mix);
        let mut stream = Vec::new();
        let mut buf = bytes::BytesMut::new();
        for _ in 0..count {
            buf.clear();
            if let Err(e) = crate::framing::encode_into(framing, &g.message(inbound), &mut buf) {
                eprintln!("origuard gen: {e}");
                return 1;
            }
            stream.extend_from_slice(&buf);
        }
        let data = if format == "pcap" {
            crate::capture::pcap::write_pcap(
                &stream,
                ([10, 0, 0, 1], 40000),
                ([10, 0, 0, 2], 7101),
                1448,
            )
        } else {
            stream
        };
        // `-` is standard output (one direction only).
        let written = if path == "-" {
            use std::io::Write;
            std::io::stdout().lock().write_all(&data)
        } else {
            std::fs::write(&path, &data)
        };
        if let Err(e) = written {
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
