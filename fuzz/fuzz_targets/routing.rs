//! Routing differential: any bytes as a message (whole, or spliced into a
//! NIEM header or a legacy header line): when origuard parses and forwards
//! an XML message, the routing it acted on equals what roxmltree reads — the
//! one key, the one originator, the destinations, by namespace URI, wherever
//! in the document an element of those names appears.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use origuard::message::fields::Catalogue;
use origuard::message::{parse, Format, Limits};

const HEAD: &str = r#"<n2:NLETS xmlns:n2="http://www.nlets.org/niem/1.0" xmlns:nh2="http://www.nlets.org/niem/nlets-hdr/1.0"><n2:NLETSMessageHeader><nh2:MessageKeyCodeText>DR</nh2:MessageKeyCodeText><nh2:OriginatingORIID>COOLN0000</nh2:OriginatingORIID><nh2:DestinationORIID>AZNLETS20</nh2:DestinationORIID>"#;
const TAIL: &str = "</n2:NLETSMessageHeader><n2:NLETSResponseData><n2:ResponseText>X</n2:ResponseText></n2:NLETSResponseData></n2:NLETS>";
const NS_NH2: &str = "http://www.nlets.org/niem/nlets-hdr/1.0";

fn independent(doc: &str) -> Option<(String, String, Vec<String>)> {
    // DTDs allowed here: origuard accepts a bare `<!DOCTYPE name>` (and
    // refuses any other), so the independent reader must read it too.
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let d = roxmltree::Document::parse_with_options(doc.trim_start_matches('\u{feff}'), opts).ok()?;
    let (mut mke, mut orig, mut dest) = (Vec::new(), Vec::new(), Vec::new());
    for n in d.descendants().filter(|n| n.is_element()) {
        let t = n.text().unwrap_or("").trim().to_string();
        let same_ns = n.tag_name().namespace() == Some(NS_NH2);
        match n.tag_name().name() {
            // Any element of a routing name counts, in any namespace: a lax
            // reader would take it.
            "MessageKeyCodeText" => mke.push((same_ns, t)),
            "OriginatingORIID" => orig.push((same_ns, t)),
            "DestinationORIID" => dest.push((same_ns, t)),
            _ => {}
        }
    }
    if mke.len() != 1 || orig.len() != 1 || !mke[0].0 || !orig[0].0 || dest.iter().any(|d| !d.0) {
        return None;
    }
    Some((mke.remove(0).1, orig.remove(0).1, dest.into_iter().map(|d| d.1).collect()))
}

fuzz_target!(|data: &[u8]| {
    let cat = Catalogue::builtin();
    let limits = Limits::default();
    let mut xml = HEAD.as_bytes().to_vec();
    xml.extend_from_slice(data);
    xml.extend_from_slice(TAIL.as_bytes());
    let mut legacy = b"DR.COOLN0000.AZNLETS20".to_vec();
    legacy.extend_from_slice(data);
    legacy.extend_from_slice(b".TXT\r\nNAM/DOE");
    for input in [Bytes::copy_from_slice(data), Bytes::from(xml), Bytes::from(legacy)] {
        let Ok(m) = parse(input.clone(), &cat, &limits) else { continue };
        match m.format {
            Format::Xml => {
                let text = std::str::from_utf8(&input).expect("parsed XML is UTF-8");
                let ours = (
                    m.mke.to_string(),
                    m.originating.to_string(),
                    m.dests.as_slice().iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                );
                assert_eq!(Some(ours), independent(text), "routing differs");
            }
            Format::Legacy => {
                // The header holds no control character and the body no
                // second header: the routing is in the first line(s) only.
                // (CR, LF and DEL before the key are teletype artefacts
                // that show nothing, and are allowed.)
                let head = &input[..m.body_offset];
                let lead = head
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n' || b == 0x7f)
                    .count();
                assert!(
                    head[lead..].iter().all(|&b| b >= 0x20 && b != 0x7f || b == b'\r' || b == b'\n'),
                    "control character in an accepted legacy header"
                );
            }
        }
    }
});
