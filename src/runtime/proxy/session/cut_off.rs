//! The drain deadline (`specs/proxy.md`, *Drain and stop*): what a reader
//! does once the session is cut — decline what has already arrived, with a
//! record, and say what was cut off.

use super::reader::refused;
use super::{Handler, Side, READ_BUFFER};
use crate::audit::record::Event;
use crate::framing::FrameCodec;
use crate::message::Direction;
use bytes::BytesMut;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::Decoder;

/// Most bytes a reader reads after the drain deadline.
const CUT_READ_MAX: usize = 256 << 10;
/// Most messages a reader declines after the drain deadline.
const CUT_MAX_MESSAGES: u64 = 1000;
/// How long a reader goes on reading after the drain deadline, and waits
/// for more bytes at most.
const CUT_READ_FOR: Duration = Duration::from_millis(250);
const CUT_READ_WAIT: Duration = Duration::from_millis(50);

/// The drain deadline stopped this reader: reads what has already arrived
/// (bounded: [`CUT_READ_FOR`], [`CUT_READ_MAX`], [`CUT_MAX_MESSAGES`]),
/// declines every complete message in it with a record (`drain_deadline`),
/// and appends a `drain_cut` record saying what was cut off, and whether
/// bytes were still arriving when it stopped (those are neither decided
/// nor counted: the peer's kernel or ours held them).
pub(super) async fn cut_off<R: AsyncRead + Unpin>(
    ctx: &Handler,
    dir: Direction,
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    rd: &mut R,
) {
    let mut declined = 0u64;
    let mut read = 0usize;
    let until = Instant::now() + CUT_READ_FOR;
    let still_arriving = loop {
        while declined < CUT_MAX_MESSAGES {
            let Ok(Some(raw)) = codec.decode(buf) else {
                break;
            };
            refused(ctx, dir, raw, "drain_deadline");
            declined += 1;
        }
        if read >= CUT_READ_MAX || declined >= CUT_MAX_MESSAGES || Instant::now() >= until {
            break true;
        }
        if buf.capacity() - buf.len() < READ_BUFFER {
            buf.reserve(READ_BUFFER);
        }
        match tokio::time::timeout(CUT_READ_WAIT, rd.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break false,
        }
    };
    let side = match dir {
        Direction::Outbound => Side::Switch,
        Direction::Inbound => Side::Nlets,
    };
    if declined == 0 && buf.is_empty() {
        return;
    }
    tracing::warn!(link = %ctx.link.cfg.name, side = side.name(), declined, unread_bytes = buf.len(), still_arriving,
        "drain deadline: messages still arriving were declined and recorded");
    if let Some(log) = &ctx.shared.audit {
        let _ = log.append(&Event::DrainCut {
            link: ctx.link.cfg.name.clone(),
            side: side.name(),
            declined,
            unread_bytes: buf.len() as u64,
            still_arriving,
        });
    }
}
