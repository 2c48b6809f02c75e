//! Shared helpers for the proxy integration tests: an in-process proxy on
//! loopback, a fake Nlets listener, framed send/receive with deadlines.
#![allow(dead_code)]

pub mod cli;
pub mod orders;
pub mod pg;
pub mod pki;
pub mod policy;
pub mod process;
pub mod ssh;
pub mod tool;

use bytes::{Bytes, BytesMut};
use origuard::framing::{encode, FrameCodec, Framing};
use origuard::runtime::config::{Config, Limits};
use origuard::runtime::proxy::Proxy;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

pub const DEADLINE: Duration = Duration::from_secs(10);

pub fn fixture(name: &str) -> Bytes {
    Bytes::from(
        std::fs::read(format!(
            "{}/testdata/messages/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
}

pub fn example_policy() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/policy/colorado.toml").to_string()
}

/// One plaintext link to `upstream` under `policy`: the switch side and
/// the admin endpoint on free loopback ports, length-prefixed framing, and
/// the audit log at `audit` (batched sync) when given.
pub fn loopback_config(upstream: &str, policy: &str, audit: Option<&std::path::Path>) -> Config {
    Config::quick(
        "127.0.0.1:0",
        upstream,
        policy,
        Framing::Len4,
        audit.map(|a| {
            (
                a.to_str().unwrap().to_string(),
                origuard::runtime::audit_log::SyncMode::Batch,
            )
        }),
        Some("127.0.0.1:0".parse().unwrap()),
    )
}

/// A proxy with one plaintext link to a fake Nlets listener.
pub struct Harness {
    pub proxy: Proxy,
    pub nlets: TcpListener,
    pub dir: tempfile::TempDir,
}

pub async fn start(policy: &str, tweak: impl FnOnce(&mut Config)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let nlets = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = loopback_config(
        &nlets.local_addr().unwrap().to_string(),
        policy,
        Some(&dir.path().join("audit.jsonl")),
    );
    cfg.limits = Limits {
        message_timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    // `pair()` accepts the Nlets side before the switch speaks; the default
    // (dial on the first message) is exercised by tests/faults.rs.
    cfg.links[0].dial = origuard::runtime::config::Dial::OnAccept;
    tweak(&mut cfg);
    let proxy = Proxy::start(&cfg, Some("test-token".into())).await.unwrap();
    Harness { proxy, nlets, dir }
}

impl Harness {
    /// Connects as the switch; returns (switch side, Nlets side).
    pub async fn pair(&self) -> (TcpStream, TcpStream) {
        let sw = TcpStream::connect(self.proxy.listen_addrs[0])
            .await
            .unwrap();
        let (nl, _) = tokio::time::timeout(DEADLINE, self.nlets.accept())
            .await
            .unwrap()
            .unwrap();
        (sw, nl)
    }

    pub fn audit_path(&self) -> std::path::PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http(self.proxy.admin_addr.unwrap(), "GET", path, None).await
    }
}

/// A tiny HTTP/1.1 client for the admin endpoint (tests only).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    status_and_body(&out)
}

/// An HTTP response's status code (0 when there is none) and body.
pub fn status_and_body(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The audit log's text once it holds `want` (bounded wait: it is written
/// by the proxy's own task, on disk).
pub async fn audit_with(path: &std::path::Path, want: &str) -> String {
    for _ in 0..100 {
        let t = std::fs::read_to_string(path).unwrap_or_default();
        if t.contains(want) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{want} not in the audit log:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

pub async fn send<W: AsyncWrite + Unpin>(w: &mut W, msg: &[u8]) {
    w.write_all(&encode(Framing::Len4, msg).unwrap())
        .await
        .unwrap();
}

/// Reads framed messages with a per-read deadline.
pub struct Rx<R> {
    pub r: R,
    buf: BytesMut,
    codec: FrameCodec,
}

impl<R: AsyncRead + Unpin> Rx<R> {
    pub fn new(r: R) -> Self {
        Rx {
            r,
            buf: BytesMut::new(),
            codec: FrameCodec::new(Framing::Len4, 1 << 24),
        }
    }

    /// The next message, or None at EOF / timeout.
    pub async fn next(&mut self, wait: Duration) -> Option<Bytes> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Ok(Some(m)) = self.codec.decode(&mut self.buf) {
                return Some(m);
            }
            let mut tmp = [0u8; 65536];
            match tokio::time::timeout_at(deadline, self.r.read(&mut tmp)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    /// True when the peer closed (EOF or reset) within `wait`.
    pub async fn closed(&mut self, wait: Duration) -> bool {
        let mut tmp = [0u8; 65536];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.r.read(&mut tmp)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&tmp[..n]),
                Err(_) => return false,
            }
        }
    }
}

pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
