//! `origuard inspect`: one JSON line per message of a capture, describing
//! what the parser sees (format, key, class, ORIs, control field, protected
//! fields present). Never prints message content beyond header values.

use crate::capture::stream::InputFraming;
use crate::message::fields::Catalogue;
use crate::message::{parse, Limits};
use serde::Serialize;
use std::io::Write;

/// One line of `inspect` output for a message that parsed.
#[derive(Serialize)]
struct Line<'a> {
    index: u64,
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    form: Option<crate::message::HeaderForm>,
    mke: &'a str,
    class: &'static str,
    originating_ori: &'a str,
    destination: Vec<&'a str>,
    control: Option<&'a str>,
    has_photo: bool,
    has_pob: bool,
    fields: Vec<&'a str>,
    bytes: usize,
    /// From a pcap: the direction of the message's flow (from the ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    /// From a pcap: the flow, `client > server` or `server > client`.
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
    /// From a pcap: when its last byte was captured (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    captured: Option<String>,
}

/// One line for a message that did not parse.
#[derive(Serialize)]
struct ErrLine<'a> {
    index: u64,
    bytes: usize,
    error: &'a str,
    code: &'static str,
    offset: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    captured: Option<String>,
}

/// Outcome of an inspect run.
pub struct Summary {
    /// Messages read.
    pub messages: u64,
    /// Messages that did not parse.
    pub errors: u64,
    /// The framing error that stopped reading, if any.
    pub stopped: Option<String>,
}

/// Runs inspect over `path` (from a pcap, the flows and messages `select`
/// names), writing JSON lines to `out`.
// Long: one loop, one JSON line per message; mostly the two line structs, field by field.
pub fn inspect_capture(
    path: &str,
    framing: InputFraming,
    select: &crate::capture::select::Select,
    max: usize,
    out: &mut dyn Write,
) -> std::io::Result<Summary> {
    let cat = Catalogue::builtin();
    let limits = Limits {
        max_text: max,
        ..Limits::default()
    };
    let mut reader =
        crate::capture::source::Source::open(path, framing, select, max).map_err(|e| match e {
            crate::capture::stream::ReadError::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })?;
    let mut s = Summary {
        messages: 0,
        errors: 0,
        stopped: None,
    };
    while let Some(item) = reader.next_item() {
        let (raw, direction, flow, captured) = match item {
            Ok(i) => (
                i.bytes,
                i.flow.map(|(_, d)| d.name()),
                i.flow.map(|(k, _)| crate::capture::select::flow_name(&k)),
                i.time_us.map(|t| {
                    humantime::format_rfc3339_micros(
                        std::time::UNIX_EPOCH + std::time::Duration::from_micros(t),
                    )
                    .to_string()
                }),
            ),
            Err(e) => {
                s.stopped = Some(e.to_string());
                break;
            }
        };
        let index = s.messages;
        s.messages += 1;
        let bytes = raw.len();
        match parse(raw, &cat, &limits) {
            Ok(m) => {
                let line = Line {
                    index,
                    format: m.format.name(),
                    form: m.form,
                    mke: m.mke.as_str(),
                    class: m.class.name(),
                    originating_ori: m.originating.as_str(),
                    destination: m.dests.as_slice().iter().map(|d| d.as_str()).collect(),
                    control: m.control.as_ref().map(|c| c.as_str()),
                    has_photo: m.has_photo(),
                    has_pob: m.has_pob(),
                    fields: m.found.iter().map(|f| cat.name(f)).collect(),
                    bytes,
                    direction,
                    flow,
                    captured,
                };
                serde_json::to_writer(&mut *out, &line)?;
            }
            Err(e) => {
                s.errors += 1;
                let line = ErrLine {
                    index,
                    bytes,
                    error: &e.what,
                    code: e.code.reason(),
                    offset: e.offset,
                    direction,
                    flow,
                    captured,
                };
                serde_json::to_writer(&mut *out, &line)?;
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(s)
}

/// `origuard inspect`: exit 0, 2 when the input stops on a framing error,
/// 64 when the file does not exist.
pub fn command(c: crate::tools::cli::InspectCli) -> u8 {
    let mut out = std::io::stdout().lock();
    let select = c.pcap.select(c.direction);
    match inspect_capture(&c.file, c.framing, &select, c.max_message, &mut out) {
        Ok(s) => match s.stopped {
            Some(e) => {
                eprintln!(
                    "origuard inspect: {}: stopped after {} message(s): {e}",
                    c.file, s.messages
                );
                2
            }
            None => 0,
        },
        // The reader went away (`inspect … | head`): stop quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("origuard inspect: {e}");
            super::common::EX_INPUT
        }
    }
}
