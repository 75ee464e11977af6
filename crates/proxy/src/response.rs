//! An upstream's response: its head read and checked as nginx's proxy module does, and
//! its body read by its framing (a length, chunks, or the connection's end).

use std::borrow::Cow;
use std::io;
use std::ops::Range;
use std::time::Duration;

use http::io::Stream;
use http::spare::Spares;
use tokio::io::AsyncReadExt;

/// Why a read from the upstream failed, in the words nginx logs (without the phase
/// suffix: `while reading response header from upstream`…).
#[derive(Debug)]
pub enum ReadFailure {
    TimedOut,
    Closed,
    Io(io::Error),
    TooBig,
    /// A header line that does not parse.
    InvalidHeader,
}

impl ReadFailure {
    /// nginx's message for it.
    pub fn message(&self) -> String {
        match self {
            ReadFailure::TimedOut => crate::TIMED_OUT.into(),
            ReadFailure::Closed => "upstream prematurely closed connection".into(),
            ReadFailure::Io(e) => format!("recv() failed ({})", conf::errno_text(e)),
            ReadFailure::TooBig => "upstream sent too big header".into(),
            ReadFailure::InvalidHeader => "upstream sent invalid header".into(),
        }
    }
}

/// A response head.
#[derive(Debug)]
pub struct Head {
    /// No status line came ("upstream sent no valid HTTP/1.0 header"): as nginx, the
    /// answer is taken for HTTP/0.9, all of it body, passed on as it is.
    pub http09: bool,
    pub status: u16,
    /// The connection stays open after this answer (HTTP/1.1 without `Connection: close`).
    pub keepalive: bool,
    /// The head's bytes, which `fields` index (no string per header).
    raw: Raw,
    /// Each header line's name and value.
    fields: Vec<(Range<usize>, Range<usize>)>,
    /// Bytes of the body read with the head (left where they were read).
    pub rest: Tail,
    /// The head's size in bytes.
    pub size: usize,
}

impl Drop for Head {
    fn drop(&mut self) {
        let fields = std::mem::take(&mut self.fields);
        SPARE_FIELDS.with(|s| s.give_emptied(fields, 64));
    }
}

thread_local! {
    /// Read buffers and field lists of finished answers, for the next ones: a busy
    /// upstream connection then allocates neither for each answer.
    static SPARE_BUFFERS: Spares<Vec<u8>> = const { Spares::new(8) };
    static SPARE_FIELDS: Spares<Vec<(Range<usize>, Range<usize>)>> = const { Spares::new(8) };
}

/// The largest read buffer kept for another answer.
const SPARE_BUFFER_MAX: usize = 64 * 1024;

/// An empty read buffer (an earlier answer's, when one is spare).
fn spare_buffer() -> Vec<u8> {
    SPARE_BUFFERS.with(|s| s.take()).unwrap_or_default()
}

/// The bytes of a read buffer from some point on: what follows a head, or a piece of a
/// body, passed on without being moved to a buffer of its own first.
#[derive(Debug, Default)]
pub struct Tail {
    buf: Vec<u8>,
    at: usize,
}

impl From<Vec<u8>> for Tail {
    fn from(buf: Vec<u8>) -> Tail {
        Tail { buf, at: 0 }
    }
}

impl std::ops::Deref for Tail {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.at..]
    }
}

impl Tail {
    /// Its bytes in a buffer of their own (moved when they are the whole buffer).
    pub fn into_vec(mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.drain(..self.at);
        buf
    }

    /// Forgets its bytes, keeping the buffer for more.
    fn clear(&mut self) {
        self.buf.clear();
        self.at = 0;
    }

    /// Drops the bytes before it from its buffer.
    fn compact(&mut self) {
        self.buf.drain(..self.at);
        self.at = 0;
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        SPARE_BUFFERS.with(|s| s.give_emptied(buf, SPARE_BUFFER_MAX));
    }
}

/// A head's bytes: text when all of it is UTF-8 (checked once, not once per header), as
/// received when not.
#[derive(Debug)]
enum Raw {
    Text(String),
    Bytes(Vec<u8>),
}

impl Raw {
    fn new(bytes: Vec<u8>) -> Raw {
        String::from_utf8(bytes).map_or_else(|e| Raw::Bytes(e.into_bytes()), Raw::Text)
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Raw::Text(s) => s.as_bytes(),
            Raw::Bytes(b) => b,
        }
    }

    /// A header's name (httparse lets only token bytes into one: ASCII).
    fn name(&self, at: &Range<usize>) -> &str {
        match self {
            Raw::Text(s) => s.get(at.clone()).unwrap_or_default(),
            Raw::Bytes(b) => std::str::from_utf8(&b[at.clone()]).unwrap_or_default(),
        }
    }

    /// A field as text (U+FFFD for bytes that are not UTF-8).
    fn text(&self, at: &Range<usize>) -> Cow<'_, str> {
        match self {
            // (fields begin and end beside ASCII delimiters: on character boundaries)
            Raw::Text(s) => s
                .get(at.clone())
                .map_or_else(|| text(&s.as_bytes()[at.clone()]), Cow::Borrowed),
            Raw::Bytes(b) => text(&b[at.clone()]),
        }
    }
}

impl Head {
    /// The header lines in order; a value that is not UTF-8 reads with U+FFFD in place of
    /// the bad bytes.
    pub fn headers(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.fields
            .iter()
            .map(|(name, value)| (self.raw.name(name), self.raw.text(value)))
    }

    pub fn header(&self, name: &str) -> Option<Cow<'_, str>> {
        self.fields
            .iter()
            .find(|(n, _)| self.raw.bytes()[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| self.raw.text(v))
    }

    /// How the body is framed.
    pub fn framing(&self, head_request: bool) -> Result<Framing, ReadFailure> {
        if self.http09 {
            return Ok(Framing::Close);
        }
        if head_request || self.status < 200 || self.status == 204 || self.status == 304 {
            return Ok(Framing::None);
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|te| te.trim().eq_ignore_ascii_case("chunked"))
        {
            return Ok(Framing::Chunked(http::h1::Chunked::default()));
        }
        match self.header("content-length") {
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Framing::Length)
                .map_err(|_| ReadFailure::InvalidHeader),
            None => Ok(Framing::Close),
        }
    }
}

/// A header value as text (U+FFFD for bytes that are not UTF-8).
fn text(value: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(value) {
        Ok(v) => Cow::Borrowed(v),
        Err(_) => String::from_utf8_lossy(value),
    }
}

/// Reads until a whole head is in, at most `limit` bytes of it.
pub async fn read_head(stream: &mut Stream, limit: usize, timeout: Duration) -> Result<Head, ReadFailure> {
    let mut buf = spare_buffer();
    buf.reserve(limit.min(16 * 1024));
    let read = async {
        loop {
            if buf.len() >= limit {
                return Err(ReadFailure::TooBig);
            }
            buf.reserve((limit - buf.len()).min(16 * 1024));
            // (into the spare capacity: nothing zeroed first)
            match stream.read_buf(&mut buf).await {
                Ok(0) => return Err(ReadFailure::Closed),
                Ok(_) => {}
                Err(e) => return Err(ReadFailure::Io(e)),
            }
            if let Some(head) = parse_head(&mut buf)? {
                // (a read may bring more than the limit: the head itself must fit)
                if head.size > limit {
                    return Err(ReadFailure::TooBig);
                }
                return Ok(head);
            }
        }
    };
    match http::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(ReadFailure::TimedOut),
    }
}

/// The head when `buf` holds all of it (its bytes are copied out: the buffer goes on
/// with the body's first bytes, as `rest`).
fn parse_head(buf: &mut Vec<u8>) -> Result<Option<Head>, ReadFailure> {
    let n = buf.len().min(5);
    if buf[..n] != b"HTTP/"[..n] {
        return Ok(Some(http09(std::mem::take(buf))));
    }
    // uninitialised slots: no 3 KiB memset per answer
    let mut storage = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; 100];
    let mut resp = httparse::Response::new(&mut []);
    let size = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, &mut storage)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::Status | httparse::Error::Version) => return Ok(Some(http09(std::mem::take(buf)))),
        Err(_) => return Err(ReadFailure::InvalidHeader),
    };
    let Some(status) = resp.code else {
        return Ok(Some(http09(std::mem::take(buf))));
    };
    let close = resp.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    let keepalive = resp.version == Some(1) && !close;
    let at = |s: &[u8]| {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + s.len()
    };
    let mut fields = SPARE_FIELDS.with(|s| s.take()).unwrap_or_default();
    fields.extend(resp.headers.iter().map(|h| (at(h.name.as_bytes()), at(h.value))));
    let raw = Raw::new(buf[..size].to_vec());
    Ok(Some(Head {
        http09: false,
        status,
        keepalive,
        raw,
        fields,
        rest: Tail {
            buf: std::mem::take(buf),
            at: size,
        },
        size,
    }))
}

/// An answer without a status line: all of it is body.
fn http09(all: Vec<u8>) -> Head {
    Head {
        http09: true,
        status: 200,
        keepalive: false,
        raw: Raw::Bytes(Vec::new()),
        fields: Vec::new(),
        rest: Tail::from(all),
        size: 0,
    }
}

/// How a response body ends.
pub enum Framing {
    None,
    Length(u64),
    Chunked(http::h1::Chunked),
    /// At the connection's end (HTTP/1.0, or no length).
    Close,
}

/// Reads a body by its framing, chunk after chunk.
pub struct BodyReader {
    framing: Framing,
    /// Raw bytes read but not yet decoded (the head's leftovers first).
    pending: Tail,
    done: bool,
    pub received: u64,
    pub length: u64,
}

impl BodyReader {
    pub fn new(framing: Framing, rest: Tail) -> BodyReader {
        let done = matches!(framing, Framing::None | Framing::Length(0));
        BodyReader {
            framing,
            pending: rest,
            done,
            received: 0,
            length: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// Bytes read and not yet handed out (the head's leftovers, at first).
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The body ended by its framing (not by the connection's end) with nothing extra read:
    /// the connection may serve another request.
    pub fn reusable(&self) -> bool {
        self.done && !matches!(self.framing, Framing::Close) && self.pending.is_empty()
    }

    /// The next piece of the body (empty once done).
    pub async fn next(&mut self, stream: &mut Stream, timeout: Duration) -> Result<Tail, ReadFailure> {
        loop {
            if self.done {
                return Ok(Tail::default());
            }
            if !self.pending.is_empty() {
                let out = self.take_pending()?;
                if !out.is_empty() || self.done {
                    self.length += out.len() as u64;
                    return Ok(out);
                }
            }
            if self.pending.buf.capacity() == 0 {
                self.pending.buf = spare_buffer();
            }
            // (what was decoded goes; a partial chunk's bytes move to the front)
            self.pending.compact();
            self.pending.buf.reserve(16 * 1024);
            // (appended into the spare capacity: nothing zeroed, nothing copied)
            let n = match http::time::timeout(timeout, stream.read_buf(&mut self.pending.buf)).await {
                Err(_) => return Err(ReadFailure::TimedOut),
                Ok(Err(e)) => return Err(ReadFailure::Io(e)),
                Ok(Ok(n)) => n,
            };
            self.received += n as u64;
            if n == 0 {
                return match self.framing {
                    Framing::Close => {
                        self.done = true;
                        Ok(Tail::default())
                    }
                    _ => Err(ReadFailure::Closed),
                };
            }
        }
    }

    /// Decodes what `pending` holds.
    fn take_pending(&mut self) -> Result<Tail, ReadFailure> {
        match &mut self.framing {
            Framing::None => {
                self.done = true;
                Ok(Tail::default())
            }
            Framing::Close => Ok(std::mem::take(&mut self.pending)),
            Framing::Length(left) => {
                let take = (*left).min(self.pending.len() as u64) as usize;
                let out = if take == self.pending.len() {
                    std::mem::take(&mut self.pending)
                } else {
                    let part = Tail::from(self.pending[..take].to_vec());
                    self.pending.at += take;
                    part
                };
                *left -= take as u64;
                if *left == 0 {
                    // (bytes past the length are dropped, as nginx does)
                    self.pending.clear();
                    self.done = true;
                }
                Ok(out)
            }
            Framing::Chunked(decoder) => {
                let mut out = Vec::new();
                let used = decoder
                    .decode(&self.pending, &mut out)
                    .map_err(|_| ReadFailure::InvalidHeader)?;
                self.pending.at += used;
                if decoder.done {
                    self.pending.clear();
                    self.done = true;
                }
                Ok(Tail::from(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_or_fail_as_nginx_says() {
        let mut b = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\nhi".to_vec();
        let h = parse_head(&mut b).unwrap().unwrap();
        assert_eq!(
            (h.status, h.header("x").as_deref(), &*h.rest),
            (200, Some("y"), &b"hi"[..])
        );
        let mut partial = b"HTTP/1.1 200 OK\r\nContent-".to_vec();
        assert!(parse_head(&mut partial).unwrap().is_none());
        let mut garbage = b"garbage\r\n\r\n".to_vec();
        let h = parse_head(&mut garbage).unwrap().unwrap();
        assert!(h.http09 && *h.rest == b"garbage\r\n\r\n"[..]);
        let mut start = b"HT".to_vec();
        assert!(parse_head(&mut start).unwrap().is_none());
        let mut bad = b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n".to_vec();
        assert!(matches!(parse_head(&mut bad), Err(ReadFailure::InvalidHeader)));
    }

    #[test]
    fn a_head_has_only_its_own_fields_after_another_was_dropped() {
        // (the second head is read into the first one's kept buffer and field list)
        for (head, fields, rest) in [
            (
                &b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\nxyz"[..],
                &["A=1", "B=2", "C=3"][..],
                &b"xyz"[..],
            ),
            (b"HTTP/1.1 204 No Content\r\nD: 4\r\n\r\n", &["D=4"], b""),
        ] {
            let mut buf = spare_buffer();
            buf.extend_from_slice(head);
            let h = parse_head(&mut buf).unwrap().unwrap();
            let got: Vec<String> = h.headers().map(|(n, v)| format!("{n}={v}")).collect();
            assert_eq!(got, fields);
            assert_eq!(&*h.rest, rest);
        }
    }

    #[test]
    fn a_tail_is_the_bytes_after_its_start() {
        let mut t = Tail {
            buf: b"headbody".to_vec(),
            at: 4,
        };
        assert_eq!(&*t, b"body");
        t.at = 6;
        t.compact();
        assert_eq!((&*t, t.buf.len()), (&b"dy"[..], 2));
        let t = Tail {
            buf: b"headbody".to_vec(),
            at: 4,
        };
        assert_eq!(t.into_vec(), b"body");
    }

    #[test]
    fn header_text_whether_or_not_the_head_is_utf8() {
        let mut b = "HTTP/1.1 200 OK\r\nX-Name: caf\u{e9}  \r\nY: 1\r\n\r\n"
            .as_bytes()
            .to_vec();
        let h = parse_head(&mut b).unwrap().unwrap();
        let all: Vec<(String, String)> = h.headers().map(|(n, v)| (n.to_string(), v.into_owned())).collect();
        assert_eq!(
            all,
            [
                ("X-Name".to_string(), "caf\u{e9}".to_string()),
                ("Y".to_string(), "1".to_string())
            ]
        );
        // one byte that is not UTF-8: that value reads with U+FFFD, the others as sent
        let mut b = b"HTTP/1.1 200 OK\r\nX: a\xffb\r\nY: 1\r\n\r\n".to_vec();
        let h = parse_head(&mut b).unwrap().unwrap();
        assert_eq!(h.header("x").as_deref(), Some("a\u{fffd}b"));
        assert_eq!(h.header("y").as_deref(), Some("1"));
        assert_eq!(h.headers().map(|(n, _)| n).collect::<Vec<_>>(), ["X", "Y"]);
    }
}
