//! The Nlets half of a session (`specs/proxy.md`, *Upstream*): dial once
//! the switch has spoken (or at once under `dial = "on_accept"`), retrying
//! within `limits.upstream_retry`, then run the inbound reader and the Nlets
//! writer.

use super::super::upstream::connect_retrying;
use super::deliver::undeliver_rest;
use super::{reader, writer, End, Handler, Out, Side};
use crate::message::Direction;
use crate::runtime::config::Dial;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The Nlets half: dial (once the switch has spoken, or at once), then read
/// and write. If the upstream stays unreachable, every message queued for it
/// is recorded undelivered.
pub(super) async fn run(
    ctx: &Arc<Handler>,
    mut rx: mpsc::Receiver<Out>,
    to_switch: mpsc::Sender<Out>,
    replies: mpsc::Sender<Out>,
) -> (End, Option<End>) {
    if ctx.link.cfg.dial == Dial::OnMessage {
        tokio::select! {
            biased;
            _ = ctx.admission.wait_admitted() => {}
            _ = ctx.stop.cancelled() => {
                // Stopped before the switch spoke: nothing was queued (a
                // message admitted in the same instant is recorded).
                drop(to_switch);
                drop(replies);
                undeliver_rest(ctx, Side::Nlets, &mut rx, "session_closed");
                return (End::Drained, None);
            }
        }
    }
    // Retry while there is something to deliver: once the session stops
    // with nothing queued (a switch that connected and left, a port probe
    // under `dial = "on_accept"`), stop dialling — a late connection would
    // reach Nlets for nobody.
    let nothing_to_deliver = async {
        ctx.stop.cancelled().await;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if rx.is_empty() {
                break;
            }
        }
    };
    let dialled = tokio::select! {
        r = connect_retrying(&ctx.shared, &ctx.link, &ctx.shared.hard_stop) => Some(r),
        _ = nothing_to_deliver => None,
    };
    let Some(dialled) = dialled else {
        drop(to_switch);
        drop(replies);
        undeliver_rest(ctx, Side::Nlets, &mut rx, "session_closed");
        return (End::Drained, None);
    };
    let io = match dialled {
        Ok(io) => io,
        Err(e) => {
            tracing::warn!(link = %ctx.link.cfg.name, upstream = %ctx.link.cfg.upstream, error = %e,
                "upstream unreachable for the whole retry period: closing the session; its queued messages are recorded undelivered");
            ctx.stop.cancel();
            drop(to_switch);
            drop(replies);
            undeliver_rest(ctx, Side::Nlets, &mut rx, "upstream_unreachable");
            return (End::UpstreamUnreachable, None);
        }
    };
    let (nr, nw) = tokio::io::split(io);
    let in_reader = async {
        let e = reader::run(ctx, Direction::Inbound, nr, to_switch, replies).await;
        ctx.stop.cancel();
        e
    };
    tokio::join!(in_reader, writer::spawned(ctx.clone(), Side::Nlets, rx, nw))
}
