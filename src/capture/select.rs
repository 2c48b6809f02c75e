//! Which messages of a pcap an offline command reads: the direction of each
//! TCP flow from its ports, one connection, a time window.
//!
//! On both legs of the link the state side opens the connection: the
//! switch connects to origuard's listen port, origuard to Nlets'. So a flow
//! whose destination port is the server `port` carries **outbound**
//! messages (state to Nlets) and one whose source port it is carries
//! **inbound** ones (Nlets to state), wherever the capture was taken, as
//! long as `port` is the server's port of that leg (7101, the listen port
//! of `deploy/origuard.toml` and of `origuard gen --format pcap`, by
//! default). Flows that touch neither end of `port` are not read.

use super::pcap::FlowKey;
use crate::message::Direction;

/// The server port assumed when none is given: the example configuration's
/// listen port, and the one `gen --format pcap` writes.
pub const DEFAULT_PORT: u16 = 7101;

/// What to read of a pcap. A framed stream has no flows and no times: only
/// the default selection applies to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Select {
    /// The server's TCP port: flows to it are outbound, from it inbound.
    pub port: u16,
    /// Only this direction (`None`: both, each message labelled).
    pub direction: Option<Direction>,
    /// Only the connection with this client end (`ip:port`).
    pub flow: Option<std::net::SocketAddr>,
    /// Only messages whose last byte was captured at or after this time
    /// (microseconds since the Unix epoch).
    pub from_us: Option<u64>,
    /// Only messages whose last byte was captured before this time.
    pub until_us: Option<u64>,
}

impl Default for Select {
    fn default() -> Self {
        Select {
            port: DEFAULT_PORT,
            direction: None,
            flow: None,
            from_us: None,
            until_us: None,
        }
    }
}

impl Select {
    /// Everything in `direction` to or from the default port.
    pub fn direction(direction: Direction) -> Select {
        Select {
            direction: Some(direction),
            ..Select::default()
        }
    }

    /// The direction of a flow's messages, `None` when it does not use the
    /// server port (then it is not read).
    pub fn flow_direction(&self, k: &FlowKey) -> Option<Direction> {
        if k.dst.1 == self.port {
            Some(Direction::Outbound)
        } else if k.src.1 == self.port {
            Some(Direction::Inbound)
        } else {
            None
        }
    }

    /// Whether the flow is read: it uses the port, runs in the wanted
    /// direction, and is the wanted connection.
    pub fn wants_flow(&self, k: &FlowKey) -> Option<Direction> {
        let d = self.flow_direction(k)?;
        if self.direction.is_some_and(|w| w != d) {
            return None;
        }
        if let Some(f) = self.flow {
            let client = if d == Direction::Outbound {
                k.src
            } else {
                k.dst
            };
            if (f.ip(), f.port()) != client {
                return None;
            }
        }
        Some(d)
    }

    /// Whether a message captured at `time_us` falls in the window.
    pub fn wants_time(&self, time_us: u64) -> bool {
        self.from_us.is_none_or(|f| time_us >= f) && self.until_us.is_none_or(|u| time_us < u)
    }

    /// True when only the defaults of a framed stream are asked for (flows
    /// and times exist only in a pcap).
    pub fn stream_compatible(&self) -> bool {
        self.flow.is_none() && self.from_us.is_none() && self.until_us.is_none()
    }
}

/// `ip:port > ip:port`, as `inspect` prints a flow.
pub fn flow_name(k: &FlowKey) -> String {
    let end = |(ip, port): (std::net::IpAddr, u16)| std::net::SocketAddr::new(ip, port).to_string();
    format!("{} > {}", end(k.src), end(k.dst))
}

/// Why a `--from`/`--until` time is not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an RFC 3339 time.
    #[error("{given:?}: not an RFC 3339 time ({why})")]
    NotRfc3339 {
        /// The text given.
        given: String,
        /// What the parser found wrong.
        why: String,
    },
    /// A time before the Unix epoch.
    #[error("{0:?}: before 1970")]
    Before1970(String),
}

/// Parses an RFC 3339 time (`2025-01-01T00:00:00Z`, fractions allowed) to
/// microseconds since the Unix epoch.
pub fn parse_time(s: &str) -> Result<u64, TimeError> {
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| TimeError::NotRfc3339 {
        given: s.into(),
        why: e.to_string(),
    })?;
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .map_err(|_| TimeError::Before1970(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(src: u16, dst: u16) -> FlowKey {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        FlowKey {
            src: (ip, src),
            dst: (ip, dst),
        }
    }

    #[test]
    fn direction_comes_from_the_server_port() {
        let s = Select::default();
        assert_eq!(
            s.flow_direction(&key(50000, 7101)),
            Some(Direction::Outbound)
        );
        assert_eq!(
            s.flow_direction(&key(7101, 50000)),
            Some(Direction::Inbound)
        );
        assert_eq!(s.flow_direction(&key(50000, 80)), None);
        let out = Select::direction(Direction::Outbound);
        assert!(out.wants_flow(&key(50000, 7101)).is_some());
        assert!(out.wants_flow(&key(7101, 50000)).is_none());
        let one = Select {
            flow: Some("127.0.0.1:50000".parse().unwrap()),
            ..Select::default()
        };
        assert!(one.wants_flow(&key(50000, 7101)).is_some());
        assert!(one.wants_flow(&key(7101, 50000)).is_some());
        assert!(one.wants_flow(&key(50001, 7101)).is_none());
    }

    #[test]
    fn time_window_is_half_open() {
        let s = Select {
            from_us: Some(parse_time("2025-01-01T00:00:01Z").unwrap()),
            until_us: Some(parse_time("2025-01-01T00:00:02Z").unwrap()),
            ..Select::default()
        };
        let t0 = parse_time("2025-01-01T00:00:00Z").unwrap();
        assert!(!s.wants_time(t0 + 999_999));
        assert!(s.wants_time(t0 + 1_000_000));
        assert!(s.wants_time(t0 + 1_999_999));
        assert!(!s.wants_time(t0 + 2_000_000));
        assert!(parse_time("yesterday").is_err());
    }
}
