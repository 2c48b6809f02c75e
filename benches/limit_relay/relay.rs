//! The limit relay (issue 27): the smallest honest message-aware relay, the
//! yardstick every `benches/compare.sh` figure is read against beside HAProxy.
//!
//! One thread (a current-thread tokio runtime). Per connection from the
//! switch it dials the upstream at once, then for every message the switch
//! sends: frames it (`origuard::framing::check`, the proxy's own decision),
//! makes one pass over its bytes (counting control characters, as a
//! message-aware relay must look at every byte), appends a chained record
//! (`seq len controls chain`, where `chain = SHA-256(previous chain ‖ seq ‖
//! len ‖ controls)`) to one log file through a 64 KiB buffer — never synced
//! — and writes the frames read in one step to the upstream from the same
//! buffer they were read into. Bytes from the upstream are copied back
//! unframed.
//!
//! What it leaves out, and origuard does not: parsing, policy, redaction,
//! metrics, durability. A figure near this one is what a message-aware relay
//! on one core of this machine can do; the gap to HAProxy (which never looks
//! at the bytes) is the cost of looking.
//!
//! Usage: `limit_relay LISTEN UPSTREAM LOG [len4|stx-etx]`

#![forbid(unsafe_code)]

use origuard::framing::{check, Framing, DEFAULT_MAX_MESSAGE};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Read buffer per connection (grows only for a message larger than this).
const READ_BUFFER: usize = 64 * 1024;

/// The one chained log every connection appends to.
struct Chain {
    out: std::io::BufWriter<File>,
    head: [u8; 32],
    seq: u64,
}

impl Chain {
    /// Appends the record of one message after one pass over its bytes.
    fn append(&mut self, msg: &[u8]) -> std::io::Result<()> {
        // One pass a compiler vectorises (every byte below 0x20), less the
        // line breaks and tabs memchr finds: both run at memory speed, as
        // the scan of a well-written relay would.
        let below = msg.iter().map(|&b| u64::from(b < 0x20)).sum::<u64>();
        let breaks = memchr::memchr3_iter(b'\r', b'\n', b'\t', msg).count() as u64;
        let controls = below - breaks;
        self.seq += 1;
        let mut h = Sha256::new();
        h.update(self.head);
        h.update(self.seq.to_be_bytes());
        h.update((msg.len() as u64).to_be_bytes());
        h.update(controls.to_be_bytes());
        self.head = h.finalize().into();
        let mut hex = [0u8; 64];
        for (i, b) in self.head.iter().enumerate() {
            const D: &[u8; 16] = b"0123456789abcdef";
            hex[2 * i] = D[(b >> 4) as usize];
            hex[2 * i + 1] = D[(b & 15) as usize];
        }
        let mut n = itoa::Buffer::new();
        self.out.write_all(n.format(self.seq).as_bytes())?;
        self.out.write_all(b" ")?;
        self.out.write_all(n.format(msg.len()).as_bytes())?;
        self.out.write_all(b" ")?;
        self.out.write_all(n.format(controls).as_bytes())?;
        self.out.write_all(b" ")?;
        self.out.write_all(&hex)?;
        self.out.write_all(b"\n")
    }
}

/// Relays one switch connection until either side closes.
async fn session(switch: TcpStream, upstream: String, framing: Framing, log: Rc<RefCell<Chain>>) {
    let Ok(nlets) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = switch.set_nodelay(true);
    let _ = nlets.set_nodelay(true);
    let (mut sr, mut sw) = switch.into_split();
    let (mut nr, mut nw) = nlets.into_split();
    let back = tokio::task::spawn_local(async move {
        let _ = tokio::io::copy(&mut nr, &mut sw).await;
    });
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUFFER);
    let mut offset = 0u64;
    'read: loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        match sr.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Every complete frame in the buffer: recorded, then written in one step.
        let mut at = 0;
        while let Ok(Some(f)) = check(framing, &buf[at..], DEFAULT_MAX_MESSAGE, 0, offset) {
            if log
                .borrow_mut()
                .append(&buf[at + f.start..at + f.end])
                .is_err()
            {
                break 'read;
            }
            at += f.total;
            offset += f.total as u64;
        }
        if check(framing, &buf[at..], DEFAULT_MAX_MESSAGE, 0, offset).is_err() {
            break;
        }
        if at > 0 {
            if nw.write_all(&buf[..at]).await.is_err() {
                break;
            }
            buf.drain(..at);
        }
    }
    let _ = nw.shutdown().await;
    let _ = back.await;
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, log, rest @ ..] = args.as_slice() else {
        eprintln!("usage: limit_relay LISTEN UPSTREAM LOG [len4|stx-etx]");
        std::process::exit(64);
    };
    let framing = match rest.first().map(String::as_str) {
        None | Some("len4") => Framing::Len4,
        Some("stx-etx") => Framing::StxEtx,
        Some(other) => {
            eprintln!("limit_relay: unknown framing {other:?} (len4 or stx-etx)");
            std::process::exit(64);
        }
    };
    let chain = Rc::new(RefCell::new(Chain {
        out: std::io::BufWriter::with_capacity(64 * 1024, File::create(log)?),
        head: [0; 32],
        seq: 0,
    }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let l = TcpListener::bind(listen.as_str()).await?;
        loop {
            let (s, _) = l.accept().await?;
            tokio::task::spawn_local(session(s, upstream.clone(), framing, chain.clone()));
        }
    })
}
