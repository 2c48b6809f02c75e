//! Notifications to the service manager (`sd_notify(3)`, for a systemd unit
//! with `Type=notify`): `READY=1` once every link and the admin endpoint are
//! bound, `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` when the
//! drain starts, each with a `STATUS=` line for `systemctl status`. Without
//! `$NOTIFY_SOCKET` (not started by systemd) every call does nothing. A
//! failure to send is logged and otherwise ignored: it never stops the proxy.

use sd_notify::NotifyState;

/// The proxy serves (every listener is bound), or serves again after a
/// reload; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins; [`ready`] must follow when it is done. Carries the
/// monotonic time, which systemd 253 and later require with `RELOADING=1`.
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading, NotifyState::Status("reloading")];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    send(&states);
}

/// The drain has begun: readiness is gone, sessions are finishing.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify the service manager at $NOTIFY_SOCKET");
    }
}
