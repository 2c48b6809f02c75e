//! Synchronous framed input and output for the offline tools (`inspect`,
//! `filter`, `policy diff --capture`, `gen`): a file or stdin split into
//! messages by the shared [`FrameCodec`], and the reverse.

use crate::framing::{FrameCodec, FrameError, Framing};
use bytes::{Bytes, BytesMut};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::str::FromStr;
use tokio_util::codec::Decoder;

/// How a tool should split its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFraming {
    /// Decide from the first bytes: STX means `stx-etx`; a 4-byte length no
    /// larger than the rest of the input means `len4`; otherwise the whole
    /// input is one unframed message.
    Auto,
    /// The whole input is one message.
    None,
    /// A real framing.
    Framed(Framing),
}

impl FromStr for InputFraming {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(InputFraming::Auto),
            "none" => Ok(InputFraming::None),
            other => Framing::from_str(other)
                .map(InputFraming::Framed)
                .map_err(|e| crate::names::UnknownName {
                    expected: [&["auto", "none"][..], &e.expected].concat(),
                    ..e
                }),
        }
    }
}

/// Opens `path` for reading; `-` is stdin.
pub fn open_input(path: &str) -> io::Result<Box<dyn Read>> {
    if path == "-" {
        Ok(Box::new(io::stdin().lock()))
    } else {
        File::open(path)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
    }
}

/// Opens `path` for writing (buffered); `-` is stdout.
pub fn open_output(path: &str) -> io::Result<Box<dyn Write>> {
    if path == "-" {
        Ok(Box::new(BufWriter::new(io::stdout().lock())))
    } else {
        File::create(path)
            .map(|f| Box::new(BufWriter::with_capacity(64 * 1024, f)) as Box<dyn Write>)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
    }
}

/// Reads messages from a byte source in 64 KiB chunks (constant memory for
/// any capture size, apart from the largest single message).
pub struct FrameReader<R> {
    src: R,
    buf: BytesMut,
    mode: InputFraming,
    codec: Option<FrameCodec>,
    max: usize,
    eof: bool,
    done: bool,
    /// Bytes handed out as an unframed message.
    consumed: u64,
}

/// Read chunk size.
const CHUNK: usize = 64 * 1024;

/// An input error: framing or I/O.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stream could not be split into messages.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// Reading failed.
    #[error("read: {0}")]
    Io(#[from] io::Error),
    /// An unframed input was larger than the maximum message size.
    #[error("unframed input is larger than the {0}-byte maximum message size")]
    TooLarge(usize),
}

impl<R: Read> FrameReader<R> {
    /// A reader splitting `src` per `mode`, refusing messages over `max` bytes.
    pub fn new(src: R, mode: InputFraming, max: usize) -> Self {
        FrameReader {
            src,
            buf: BytesMut::with_capacity(CHUNK),
            mode,
            codec: match mode {
                InputFraming::Framed(f) => Some(FrameCodec::new(f, max)),
                _ => None,
            },
            max,
            eof: false,
            done: false,
            consumed: 0,
        }
    }

    /// The framing in use once decided (None for unframed input).
    pub fn framing(&self) -> Option<Framing> {
        self.codec.as_ref().map(|c| c.framing())
    }

    /// Stream offset just past the last message returned (0 before the
    /// first; the whole input for an unframed message).
    pub fn offset(&self) -> u64 {
        match &self.codec {
            Some(c) => c.offset(),
            None => self.consumed,
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(CHUNK);
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = loop {
            match self.src.read(&mut self.buf[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(start);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(start + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    fn decide(&mut self) -> Result<(), ReadError> {
        // Read enough to decide: the first chunk (or everything if smaller).
        while !self.eof && self.buf.len() < 8 {
            self.fill()?;
        }
        let b = &self.buf[..];
        let framing = if b.first() == Some(&crate::framing::STX) {
            Some(Framing::StxEtx)
        } else if b.len() >= 4 {
            let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            // A plausible length: a text or XML message never starts with a
            // zero byte, so a first byte of 0 is a length prefix.
            (b[0] == 0 && len > 0 && len <= self.max).then_some(Framing::Len4)
        } else {
            None
        };
        self.mode = match framing {
            Some(f) => InputFraming::Framed(f),
            None => InputFraming::None,
        };
        if let Some(f) = framing {
            self.codec = Some(FrameCodec::new(f, self.max));
        }
        Ok(())
    }

    /// The next message, `None` at a clean end of input.
    pub fn next_message(&mut self) -> Option<Result<Bytes, ReadError>> {
        if self.done {
            return None;
        }
        let r = self.next_inner();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }

    fn next_inner(&mut self) -> Option<Result<Bytes, ReadError>> {
        if self.mode == InputFraming::Auto {
            if let Err(e) = self.decide() {
                return Some(Err(e));
            }
        }
        if self.mode == InputFraming::None {
            while !self.eof {
                if let Err(e) = self.fill() {
                    return Some(Err(e.into()));
                }
                if self.buf.len() > self.max {
                    return Some(Err(ReadError::TooLarge(self.max)));
                }
            }
            self.done = true;
            if self.buf.is_empty() {
                return None;
            }
            self.consumed = self.buf.len() as u64;
            return Some(Ok(self.buf.split().freeze()));
        }
        loop {
            let codec = self.codec.as_mut()?;
            match codec.decode(&mut self.buf) {
                Ok(Some(m)) => return Some(Ok(m)),
                Ok(None) => {}
                Err(e) => return Some(Err(e.into())),
            }
            if self.eof {
                return match codec.decode_eof(&mut self.buf) {
                    Ok(Some(m)) => Some(Ok(m)),
                    Ok(None) => None,
                    Err(e) => Some(Err(e.into())),
                };
            }
            if let Err(e) = self.fill() {
                return Some(Err(e.into()));
            }
        }
    }
}

impl<R: Read> Iterator for FrameReader<R> {
    type Item = Result<Bytes, ReadError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_message()
    }
}

/// Writes framed messages.
pub struct FrameWriter<W> {
    dst: W,
    framing: Option<Framing>,
    buf: BytesMut,
}

impl<W: Write> FrameWriter<W> {
    /// A writer framing each message with `framing` (None: raw concatenation).
    pub fn new(dst: W, framing: Option<Framing>) -> Self {
        FrameWriter {
            dst,
            framing,
            buf: BytesMut::new(),
        }
    }

    /// Writes one message.
    pub fn write(&mut self, msg: &[u8]) -> Result<(), ReadError> {
        match self.framing {
            Some(f) => {
                self.buf.clear();
                crate::framing::encode_into(f, msg, &mut self.buf)?;
                self.dst.write_all(&self.buf)?;
            }
            None => self.dst.write_all(msg)?,
        }
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.dst.flush()?;
        Ok(self.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8], mode: InputFraming) -> (Vec<Bytes>, Option<String>) {
        let mut out = Vec::new();
        for r in FrameReader::new(data, mode, 1 << 20) {
            match r {
                Ok(m) => out.push(m),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    #[test]
    fn auto_detects() {
        let mut w = FrameWriter::new(Vec::new(), Some(Framing::Len4));
        w.write(b"DQ.A").unwrap();
        w.write(b"DQ.B").unwrap();
        let len4 = w.finish().unwrap();
        assert_eq!(all(&len4, InputFraming::Auto).0.len(), 2);
        let stx = b"\x02DQ.A\x03\x02DQ.B\x03";
        assert_eq!(all(stx, InputFraming::Auto).0.len(), 2);
        let raw = b"DQ.AZNLETS20.CO.TXT\nX";
        assert_eq!(
            all(raw, InputFraming::Auto).0,
            vec![Bytes::from_static(raw)]
        );
        assert_eq!(all(b"", InputFraming::Auto).0.len(), 0);
        let (m, e) = all(b"\0\0\0\x09DQ.A", InputFraming::Auto);
        assert!(m.is_empty() && e.unwrap().contains("ended inside"));
    }

    #[test]
    fn large_stream_in_chunks() {
        let mut w = FrameWriter::new(Vec::new(), Some(Framing::StxEtx));
        for i in 0..5000 {
            w.write(format!("DQ.AZNLETS20.CO.TXT\nNAM/{i:0100}").as_bytes())
                .unwrap();
        }
        let data = w.finish().unwrap();
        let (m, e) = all(&data, InputFraming::Framed(Framing::StxEtx));
        assert!(e.is_none());
        assert_eq!(m.len(), 5000);
    }
}
