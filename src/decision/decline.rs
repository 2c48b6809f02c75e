//! Decline replies: what a denied requester receives instead of a record.
//!
//! A decline is an ordinary response in the request's own format (legacy
//! text or NIEM XML), with the response key for the query (DQ→DR, KQ→KR,
//! CPQ→CPR, ...), sent from the state's configured ORI to the requester, the
//! control field echoed unchanged so the requester's switch can route it to
//! the right terminal, and the policy's decline text. It never says
//! "NOT ON FILE": the record may exist, and officers must not be misled.

use crate::message::xml::{escape_into, NS_N2, NS_NH2};
use crate::message::{Control, Format, Ori};
use bytes::Bytes;

/// What a decline needs.
#[derive(Clone, Copy, Debug)]
pub struct DeclineSpec<'a> {
    /// Format of the reply (the request's).
    pub format: Format,
    /// Response key to send.
    pub mke: &'a str,
    /// The state's ORI (sender of the reply).
    pub from: Ori,
    /// The requester (destination of the reply).
    pub to: Ori,
    /// The request's control field, echoed.
    pub control: Option<Control>,
    /// Decline text (printable ASCII).
    pub text: &'a str,
}

/// Builds the reply bytes.
pub fn build(s: &DeclineSpec<'_>) -> Bytes {
    match s.format {
        Format::Legacy => {
            // Input header form: this message goes from the state to Nlets.
            let mut v = Vec::with_capacity(64 + s.text.len());
            v.extend_from_slice(s.mke.as_bytes());
            v.push(b'.');
            v.extend_from_slice(s.from.as_bytes());
            v.push(b'.');
            v.extend_from_slice(s.to.as_bytes());
            v.push(b'.');
            if let Some(c) = s.control {
                v.push(b'*');
                v.extend_from_slice(c.as_bytes());
                v.push(b'.');
            }
            v.extend_from_slice(b"TXT\r\n");
            // A legacy message should not end with a period (NCIC convention).
            v.extend_from_slice(s.text.trim_end_matches('.').as_bytes());
            Bytes::from(v)
        }
        Format::Xml => {
            let mut v = Vec::with_capacity(600 + s.text.len());
            v.extend_from_slice(
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<n2:NLETS xmlns:n2=\"",
            );
            v.extend_from_slice(NS_N2);
            v.extend_from_slice(b"\" xmlns:nh2=\"");
            v.extend_from_slice(NS_NH2);
            v.extend_from_slice(
                b"\" n2:version=\"4.00\">\n  <n2:NLETSMessageHeader>\n    <nh2:MessageKeyCodeText>",
            );
            v.extend_from_slice(s.mke.as_bytes());
            v.extend_from_slice(b"</nh2:MessageKeyCodeText>\n    <nh2:OriginatingORIID>");
            v.extend_from_slice(s.from.as_bytes());
            v.extend_from_slice(b"</nh2:OriginatingORIID>\n    <nh2:DestinationORIID>");
            v.extend_from_slice(s.to.as_bytes());
            v.extend_from_slice(b"</nh2:DestinationORIID>\n");
            if let Some(c) = s.control {
                v.extend_from_slice(b"    <nh2:DocumentControlFieldText>");
                if memchr::memmem::find(c.as_bytes(), b"]]>").is_some() {
                    escape_into(c.as_bytes(), &mut v);
                } else {
                    v.extend_from_slice(b"<![CDATA[");
                    v.extend_from_slice(c.as_bytes());
                    v.extend_from_slice(b"]]>");
                }
                v.extend_from_slice(b"</nh2:DocumentControlFieldText>\n");
            }
            v.extend_from_slice(
                b"  </n2:NLETSMessageHeader>\n  <n2:NLETSResponseData>\n    <n2:ResponseText>",
            );
            escape_into(s.text.as_bytes(), &mut v);
            v.extend_from_slice(b"</n2:ResponseText>\n  </n2:NLETSResponseData>\n</n2:NLETS>\n");
            Bytes::from(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fields::Catalogue;
    use crate::message::{parse, Limits, Tiny};

    fn spec(format: Format, control: Option<&str>) -> Bytes {
        build(&DeclineSpec {
            format,
            mke: "DR",
            from: Tiny::new(b"COOLN0000").unwrap(),
            to: Tiny::new(b"VTICE0900").unwrap(),
            control: control.map(|c| Tiny::new(c.as_bytes()).unwrap()),
            text: "REQUEST DECLINED BY THE STATE OF RECORD <TEST> & CO.",
        })
    }

    #[test]
    fn replies_parse_back() {
        let cat = Catalogue::builtin();
        for format in [Format::Legacy, Format::Xml] {
            for control in [Some("ICE0000001"), Some("A]]>B"), None] {
                let b = spec(format, control);
                let m = parse(b.clone(), &cat, &Limits::default())
                    .unwrap_or_else(|e| panic!("{e}: {b:?}"));
                assert_eq!(m.format, format);
                assert_eq!(m.mke.as_str(), "DR");
                assert_eq!(m.originating.as_str(), "COOLN0000");
                assert_eq!(m.dests.as_slice()[0].as_str(), "VTICE0900");
                assert_eq!(m.control.map(|c| c.to_string()), control.map(String::from));
                assert!(m.found.is_empty());
                let s = String::from_utf8(b.to_vec()).unwrap();
                assert!(s.contains("REQUEST DECLINED") && !s.contains("NOT ON FILE"));
            }
        }
        let legacy = spec(Format::Legacy, Some("ICE0000001"));
        assert!(legacy.starts_with(b"DR.COOLN0000.VTICE0900.*ICE0000001.TXT\r\n"));
        assert!(!legacy.ends_with(b"."));
    }
}
