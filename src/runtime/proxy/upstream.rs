//! Connecting a session to its upstream (the Nlets side): one attempt with
//! its deadlines, and the bounded retry a session makes before giving up on
//! the messages it already holds.

use super::shared::{Io, Link, Shared};
use crate::runtime::metrics as m;
use metrics::counter;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Why the upstream could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The TCP connect did not finish in time.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    TlsHandshake(std::io::Error),
    /// The TLS handshake did not finish in time.
    #[error("TLS handshake timed out")]
    TlsTimeout,
    /// The session stopped while retrying.
    #[error("session stopped while connecting")]
    Stopped,
}

impl UpstreamError {
    /// Metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::ConnectTimeout => "connect_timeout",
            UpstreamError::TlsHandshake(_) => "tls_handshake",
            UpstreamError::TlsTimeout => "tls_timeout",
            UpstreamError::Stopped => "stopped",
        }
    }
}

/// One connection attempt, TLS included, within the configured deadlines.
pub async fn connect(shared: &Shared, link: &Link) -> Result<Box<dyn Io>, UpstreamError> {
    let t = shared.limits.connect_timeout;
    let tcp = match tokio::time::timeout(t, TcpStream::connect(&link.cfg.upstream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
        Err(_) => return Err(UpstreamError::ConnectTimeout),
    };
    let _ = tcp.set_nodelay(true);
    match link.tls.connector() {
        Some((c, name)) => {
            match tokio::time::timeout(shared.limits.handshake_timeout, c.connect(name, tcp)).await
            {
                Ok(Ok(s)) => Ok(Box::new(s)),
                Ok(Err(e)) => Err(UpstreamError::TlsHandshake(e)),
                Err(_) => Err(UpstreamError::TlsTimeout),
            }
        }
        None => Ok(Box::new(tcp)),
    }
}

/// First retry delay; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest delay between attempts.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Connects, retrying with backoff for up to `limits.upstream_retry`, so a
/// short outage (a restart, a failover) loses nothing: the session holds
/// what it has read meanwhile. Every failed attempt is counted.
pub async fn connect_retrying(
    shared: &Shared,
    link: &Link,
    stop: &CancellationToken,
) -> Result<Box<dyn Io>, UpstreamError> {
    let deadline = tokio::time::Instant::now() + shared.limits.upstream_retry;
    let mut wait = RETRY_MIN;
    let mut attempts = 0u32;
    loop {
        let r = tokio::select! {
            r = connect(shared, link) => r,
            _ = stop.cancelled() => return Err(UpstreamError::Stopped),
        };
        let e = match r {
            Ok(s) => {
                if attempts > 0 {
                    tracing::info!(link = %link.cfg.name, upstream = %link.cfg.upstream, attempts, "upstream reachable again");
                }
                return Ok(s);
            }
            Err(e) => e,
        };
        attempts += 1;
        counter!(m::UPSTREAM_FAILURES, "link" => link.cfg.name.clone(), "reason" => e.reason())
            .increment(1);
        if tokio::time::Instant::now() + wait >= deadline {
            return Err(e);
        }
        if attempts == 1 {
            tracing::warn!(link = %link.cfg.name, upstream = %link.cfg.upstream, error = %e,
                retry_for = ?shared.limits.upstream_retry, "upstream unreachable: retrying, holding the session's messages");
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return Err(UpstreamError::Stopped),
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}
