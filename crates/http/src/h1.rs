//! HTTP/1.x request-head parsing and checks: httparse reads the bytes, we apply nginx's
//! limits and its refusals of ambiguous (smuggling-shaped) input.

use std::borrow::Cow;

use crate::request::Framing;
use crate::spare::Spares;

/// Known methods without an allocation.
fn method_name(m: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    match KNOWN.iter().find(|k| **k == m) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(m.to_string()),
    }
}

#[derive(Debug)]
pub struct Head {
    pub method: Cow<'static, str>,
    pub target: String,
    pub version: (u8, u8),
    pub headers: Vec<(String, String)>,
}

/// Why a head was refused: the status to answer with and the error-log reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    /// Refused as an HTTP/0.9 request: the answer is the bare page.
    pub http09: bool,
}

pub fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal {
        status,
        reason,
        http09: false,
    }
}

pub struct Limits {
    pub large_buf: usize,
    pub large_num: usize,
}

/// Parses a complete head from `buf`. `Ok(None)`: need more bytes (and they may come).
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, Refusal> {
    // nginx skips empty lines before a request line.
    let mut skip = 0;
    while skip + 1 < buf.len() && (buf[skip] == b'\r' || buf[skip] == b'\n') {
        skip += 1;
    }
    let buf_all = buf;
    let buf = &buf[skip..];
    let line_end = buf.iter().position(|&c| c == b'\n');
    match line_end {
        None if buf.len() > limits.large_buf => {
            return Err(refuse(414, "client sent too long URI"));
        }
        Some(n) if n > limits.large_buf => return Err(refuse(414, "client sent too long URI")),
        _ => {}
    }
    // uninitialised slots: no 3 KiB memset per request
    let mut storage = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; 100];
    let mut big;
    let mut req = httparse::Request::new(&mut []);
    let mut status = req.parse_with_uninit_headers(buf, &mut storage);
    // (the strict parser first: it is the fast one; as nginx, several spaces may separate
    // the request line's parts, which only the lenient one takes)
    let lenient = || {
        let mut config = httparse::ParserConfig::default();
        config.allow_multiple_spaces_in_request_line_delimiters(true);
        config
    };
    if matches!(status, Err(httparse::Error::Token | httparse::Error::Version)) {
        req = httparse::Request::new(&mut []);
        status = lenient().parse_request_with_uninit_headers(&mut req, buf, &mut storage);
    }
    // an HTTP/1.x of a later minor version is read as HTTP/1.1 (nginx keeps its number)
    let mut minor = None;
    let mut rewritten = Vec::new();
    let mut shift = 0;
    if let Err(httparse::Error::Version) = status
        && let Some(end) = line_end
        && let Some(v) = odd_version(&buf[..end])?
    {
        minor = Some(v.minor);
        let mut line = Vec::with_capacity(buf.len());
        line.extend_from_slice(&buf[..v.at]);
        line.extend_from_slice(b"HTTP/1.1");
        line.extend_from_slice(&buf[v.at + v.len..]);
        shift = v.len - 8;
        rewritten = line;
        req = httparse::Request::new(&mut []);
        status = lenient().parse_request_with_uninit_headers(&mut req, &rewritten, &mut storage);
    }
    // header names with bytes nginx does not take in a name: the line is dropped, as
    // nginx's ignore_invalid_headers does (controls and spaces in a name stay a 400)
    let mut cleaned = Vec::new();
    if let Err(httparse::Error::HeaderName) = status
        && let Some((kept, removed)) = drop_invalid_header_lines(if minor.is_some() { &rewritten } else { buf })?
    {
        cleaned = kept;
        shift += removed;
        req = httparse::Request::new(&mut []);
        status = lenient().parse_request_with_uninit_headers(&mut req, &cleaned, &mut storage);
    }
    if let Err(httparse::Error::TooManyHeaders) = status {
        big = vec![httparse::EMPTY_HEADER; 4096];
        req = httparse::Request::new(&mut big);
        let head = if !cleaned.is_empty() {
            &cleaned
        } else if minor.is_some() {
            &rewritten
        } else {
            buf
        };
        status = lenient().parse_request(&mut req, head);
    }
    // an HTTP/0.9 request, `GET /path` alone on its line: answered with the bare body
    if let Err(httparse::Error::Version | httparse::Error::Token) = status
        && let Some(end) = line_end
        && let Some(head) = simple_request(&buf[..end])?
    {
        return Ok(Some((head, end + 1 + skip)));
    }
    let n = match status {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            // nginx checks a method's characters as they come: a request that can never
            // be one is refused before its line ends
            let method_len = buf.iter().position(|&c| c == b' ').unwrap_or(buf.len());
            if !buf[..method_len]
                .iter()
                .all(|&c| c.is_ascii_uppercase() || c == b'_' || c == b'-')
            {
                return Err(refuse(400, "client sent invalid method"));
            }
            if buf_all.len() >= limits.large_buf * limits.large_num {
                return Err(refuse(494, "client sent too large request"));
            }
            if let Some(start) = line_end {
                // a header line that can never fit one large buffer
                let longest = buf[start + 1..]
                    .split(|&c| c == b'\n')
                    .map(|l| l.len())
                    .max()
                    .unwrap_or(0);
                if longest > limits.large_buf {
                    return Err(refuse(494, "client sent too long header line"));
                }
            }
            return Ok(None);
        }
        Err(httparse::Error::Version) => return Err(refuse(400, "client sent invalid request")),
        Err(httparse::Error::HeaderName) | Err(httparse::Error::HeaderValue) => {
            return Err(refuse(400, "client sent invalid header line"));
        }
        Err(_) => return Err(refuse(400, "client sent invalid request")),
    };
    if req
        .headers
        .iter()
        .any(|h| h.value.len() + h.name.len() > limits.large_buf)
    {
        return Err(refuse(494, "client sent too long header line"));
    }
    // the strings of an earlier request's headers are reused: no allocation per header
    let mut headers = recycled_headers();
    for (i, h) in req.headers.iter().enumerate() {
        // (the strict check is the fast one; invalid bytes are rare)
        let value = match std::str::from_utf8(h.value) {
            Ok(v) => Cow::Borrowed(v),
            Err(_) => String::from_utf8_lossy(h.value),
        };
        match headers.get_mut(i) {
            Some((n, v)) => {
                n.clear();
                n.push_str(h.name);
                v.clear();
                v.push_str(&value);
            }
            None => headers.push((h.name.to_string(), value.into_owned())),
        }
    }
    headers.truncate(req.headers.len());
    let head = Head {
        method: method_name(req.method.unwrap_or("")),
        target: req.path.unwrap_or("").to_string(),
        version: (1, minor.unwrap_or(req.version.unwrap_or(1))),
        headers,
    };
    Ok(Some((head, n + skip + shift)))
}

/// A whole head with the header lines nginx would ignore taken out (names with bytes
/// outside a token, lines without a colon), and how many bytes went; `None` when the head
/// is not complete yet or nothing is to be dropped. A name with a control byte or a space
/// (a folded line too) is refused, as by nginx.
fn drop_invalid_header_lines(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Refusal> {
    let Some(first_end) = buf.iter().position(|&c| c == b'\n') else {
        return Ok(None);
    };
    let mut out = buf[..=first_end].to_vec();
    let mut pos = first_end + 1;
    let mut removed = 0;
    loop {
        let Some(len) = buf[pos..].iter().position(|&c| c == b'\n') else {
            return Ok(None);
        };
        let line = &buf[pos..pos + len + 1];
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            out.extend_from_slice(&buf[pos..]);
            return Ok((removed > 0).then_some((out, removed)));
        }
        let name = text.split(|&c| c == b':').next().unwrap_or(text);
        let folded = matches!(text[0], b' ' | b'\t');
        let bad_byte = name.iter().any(|&c| c <= b' ' || c == 0x7f);
        if folded || name.is_empty() || (bad_byte && text.contains(&b':')) {
            return Err(refuse(400, "client sent invalid header line"));
        }
        let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
        if text.contains(&b':') && name.iter().all(|&c| token(c)) {
            out.extend_from_slice(line);
        } else {
            removed += line.len();
        }
        pos += len + 1;
    }
}

/// `GET /path` with no version: HTTP/0.9, which nginx still answers (GET only).
fn simple_request(line: &[u8]) -> Result<Option<Head>, Refusal> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&c| c == b' ').filter(|w| !w.is_empty());
    let (Some(method), Some(target), None) = (words.next(), words.next(), words.next()) else {
        return Ok(None);
    };
    let clean = |w: &[u8]| w.iter().all(|&c| c > b' ' && c != 0x7f);
    if !target.starts_with(b"/") || !clean(target) || !method.iter().all(u8::is_ascii_uppercase) {
        return Ok(None);
    }
    if method != b"GET" {
        return Err(Refusal {
            http09: true,
            ..refuse(400, "client sent invalid method in HTTP/0.9 request")
        });
    }
    Ok(Some(Head {
        method: method_name("GET"),
        target: String::from_utf8_lossy(target).into_owned(),
        version: (0, 9),
        headers: Vec::new(),
    }))
}

/// Where a request line names an HTTP version httparse does not read.
struct OddVersion {
    at: usize,
    len: usize,
    minor: u8,
}

/// `HTTP/1.2`…`HTTP/1.99`: read as 1.1; `HTTP/2.0` and later majors: 505, as nginx.
fn odd_version(line: &[u8]) -> Result<Option<OddVersion>, Refusal> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.trim_ascii_end();
    let Some(at) = line.windows(5).rposition(|w| w == b"HTTP/") else {
        return Ok(None);
    };
    let version = &line[at + 5..];
    let Some(dot) = version.iter().position(|&c| c == b'.') else {
        return Ok(None);
    };
    let (major, minor) = (&version[..dot], &version[dot + 1..]);
    let number = |d: &[u8]| -> Option<u32> {
        (!d.is_empty() && d.len() <= 3 && d.iter().all(u8::is_ascii_digit))
            .then(|| d.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
    };
    let (Some(major), Some(minor)) = (number(major), number(minor)) else {
        return Ok(None);
    };
    if major >= 2 {
        return Err(refuse(505, "client sent unsupported HTTP version"));
    }
    if major == 1 && (2..=99).contains(&minor) {
        return Ok(Some(OddVersion {
            at,
            len: line.len() - at,
            minor: minor as u8,
        }));
    }
    Ok(None)
}

thread_local! {
    /// Header lists of finished requests, their strings kept for the next heads.
    static SPARE_HEADERS: Spares<Vec<(String, String)>> = const { Spares::new(16) };
}

/// A header list to fill (with strings to reuse, when one is spare).
fn recycled_headers() -> Vec<(String, String)> {
    SPARE_HEADERS.with(|s| s.take()).unwrap_or_default()
}

/// Keeps a finished request's header list for a later head: a few per worker, and
/// only lists of usual size, so that at most ~128 KiB stay held (16 × 32 × 256 bytes).
pub fn recycle_headers(list: Vec<(String, String)>) {
    let small = list.len() <= 32 && list.iter().all(|(n, v)| n.capacity() + v.capacity() <= 256);
    if small && list.capacity() > 0 {
        SPARE_HEADERS.with(|s| s.give(list));
    }
}

/// Works out how the body is framed, refusing what nginx refuses.
pub fn body_framing(headers: &[(String, String)], version: (u8, u8)) -> Result<Framing, Refusal> {
    let mut length: Option<u64> = None;
    let mut te: Option<&str> = None;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return Err(refuse(400, "client sent duplicate header line: \"Content-Length\""));
            }
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refuse(400, "client sent invalid \"Content-Length\" header"));
            }
            length = Some(
                v.parse()
                    .map_err(|_| refuse(400, "client sent invalid \"Content-Length\" header"))?,
            );
        } else if n.eq_ignore_ascii_case("transfer-encoding") {
            if te.is_some() {
                return Err(refuse(400, "client sent duplicate header line: \"Transfer-Encoding\""));
            }
            te = Some(v.trim());
        }
    }
    match (te, length) {
        (Some(_), Some(_)) => Err(refuse(
            400,
            "client sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time",
        )),
        (Some(t), None) if t.eq_ignore_ascii_case("chunked") => {
            if version < (1, 1) {
                return Err(refuse(
                    400,
                    "client sent \"Transfer-Encoding: chunked\" in HTTP/1.0 request",
                ));
            }
            Ok(Framing::Chunked)
        }
        (Some(_), None) => Err(refuse(501, "client sent unknown \"Transfer-Encoding\"")),
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(Framing::None),
    }
}

/// Splits a request target into (decoded normalised path, args). `None` means 400.
/// The rest of an `http://` or `https://` URL (scheme matched ignoring case), as the
/// Referer and Destination headers give them.
pub fn strip_http_scheme(url: &str) -> Option<&str> {
    ["http://", "https://"]
        .iter()
        .find(|s| url.len() >= s.len() && url[..s.len()].eq_ignore_ascii_case(s))
        .map(|s| &url[s.len()..])
}

pub fn parse_target(target: &str, merge_slashes: bool) -> Option<(String, String, Option<String>)> {
    let (mut rest, mut host) = (target, None);
    if !target.starts_with('/') {
        // absolute-form: scheme://host[:port]/path
        let after = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))?;
        let slash = after.find(['/', '?']).unwrap_or(after.len());
        host = Some(after[..slash].to_string());
        rest = &after[slash..];
        if rest.is_empty() {
            rest = "/";
        }
        if !rest.starts_with('/') {
            return None;
        }
    }
    // one pass for the query and a `#fragment` (no part of what is asked for: nginx drops
    // it); both are ASCII, so the positions are char boundaries
    let bytes = rest.as_bytes();
    let (mut query, mut end) = (None, bytes.len());
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'#' {
            end = i;
            break;
        }
        if c == b'?' && query.is_none() {
            query = Some(i);
        }
    }
    let (path, args) = match query {
        Some(i) => (&rest[..i], &rest[i + 1..end]),
        None => (&rest[..end], ""),
    };
    // most paths need neither decoding nor normalising (one pass over the bytes)
    let mut prev = 0u8;
    let needs_work = path.bytes().any(|c| {
        let hit = c == b'%' || (prev == b'/' && (c == b'.' || (merge_slashes && c == b'/')));
        prev = c;
        hit
    });
    if !needs_work {
        return Some((path.to_string(), args.to_string(), host));
    }
    let decoded = percent_decode(path.as_bytes())?;
    let norm = normalize(&decoded, merge_slashes)?;
    Some((String::from_utf8_lossy(&norm).into_owned(), args.to_string(), host))
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let (a, b) = (hex(*s.get(i + 1)?)?, hex(*s.get(i + 2)?)?);
            let c = a << 4 | b;
            if c == 0 {
                return None;
            }
            out.push(c);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Resolves `.` and `..` segments (a `..` above the root is an error) and merges slashes.
fn normalize(p: &[u8], merge_slashes: bool) -> Option<Vec<u8>> {
    let mut segs: Vec<&[u8]> = Vec::new();
    let trailing = p.ends_with(b"/") || p.ends_with(b"/.") || p.ends_with(b"/..");
    for seg in p.split(|&c| c == b'/').skip(1) {
        match seg {
            b"." => {}
            b".." => {
                segs.pop()?;
            }
            b"" if merge_slashes => {}
            s => segs.push(s),
        }
    }
    let mut out = Vec::with_capacity(p.len());
    for s in &segs {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if out.is_empty() || (trailing && !out.ends_with(b"/")) {
        out.push(b'/');
    }
    Some(out)
}

/// Validates a Host value and returns it lowercased without the port (nginx's validate_host).
/// Bytes a host name never holds: controls, space, DEL, path separators (a table: one
/// load per byte on every request's Host).
const BAD_HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c <= b' ' as usize {
        t[c] = true;
        c += 1;
    }
    t[0x7f] = true;
    t[b'/' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

pub fn validate_host(h: &str) -> Option<String> {
    // byte searches for ASCII characters: every index is a char boundary
    let bytes = h.as_bytes();
    let end = bytes.iter().rposition(|&c| c != b'.').map_or(0, |i| i + 1);
    let host = if bytes.first() == Some(&b'[') {
        &h[..bytes[..end].iter().position(|&c| c == b']')? + 1]
    } else {
        &h[..bytes[..end].iter().rposition(|&c| c == b':').unwrap_or(end)]
    };
    if host.is_empty() || host.starts_with('.') {
        return None;
    }
    // one pass: refuse path separators, spaces and control bytes, and empty labels
    let mut prev = 0u8;
    for &c in host.as_bytes() {
        if BAD_HOST_BYTE[c as usize] || (c == b'.' && prev == b'.') {
            return None;
        }
        prev = c;
    }
    let kept = host.as_bytes().iter().rposition(|&c| c != b'.').map_or(0, |i| i + 1);
    Some(host[..kept].to_ascii_lowercase())
}

/// Decodes chunked framing incrementally.
#[derive(Debug, Default)]
pub struct Chunked {
    state: ChunkState,
    remaining: u64,
    pub done: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data,
    DataCrlf,
    Trailer,
}

impl Chunked {
    /// Consumes what it can from `input`, appending body bytes to `out`.
    /// Returns bytes consumed; `Err` for malformed framing (400).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, Refusal> {
        let bad = || refuse(400, "client sent invalid chunked body");
        let mut i = 0;
        while i < input.len() && !self.done {
            match self.state {
                ChunkState::Size => {
                    let Some(nl) = input[i..].iter().position(|&c| c == b'\n') else {
                        if input.len() - i > 4096 {
                            return Err(bad());
                        }
                        return Ok(i);
                    };
                    let line = &input[i..i + nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let size_part = line.split(|&c| c == b';').next().unwrap_or(b"");
                    let size_part = trim_ws(size_part);
                    if size_part.is_empty() || size_part.len() > 16 {
                        return Err(bad());
                    }
                    let mut n: u64 = 0;
                    for &c in size_part {
                        n = n.checked_mul(16).ok_or_else(bad)? + hex(c).ok_or_else(bad)? as u64;
                    }
                    if n > i64::MAX as u64 {
                        return Err(bad());
                    }
                    i += nl + 1;
                    self.remaining = n;
                    self.state = if n == 0 { ChunkState::Trailer } else { ChunkState::Data };
                }
                ChunkState::Data => {
                    let take = ((input.len() - i) as u64).min(self.remaining) as usize;
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.state = ChunkState::DataCrlf;
                    }
                }
                ChunkState::DataCrlf => {
                    let rest = &input[i..];
                    if rest.starts_with(b"\r\n") {
                        i += 2;
                    } else if rest.starts_with(b"\n") {
                        i += 1;
                    } else if rest == b"\r" {
                        return Ok(i);
                    } else {
                        return Err(bad());
                    }
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(nl) = input[i..].iter().position(|&c| c == b'\n') else {
                        if input.len() - i > 8192 {
                            return Err(bad());
                        }
                        return Ok(i);
                    };
                    let line = &input[i..i + nl];
                    i += nl + 1;
                    if line.is_empty() || line == b"\r" {
                        self.done = true;
                    }
                }
            }
        }
        Ok(i)
    }
}

fn trim_ws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|c| !matches!(c, b' ' | b'\t')).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .map(|e| e + 1)
        .unwrap_or(start);
    &s[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        large_buf: 8192,
        large_num: 4,
    };

    #[test]
    fn recycled_header_strings_carry_nothing_over() {
        let head = |raw: &[u8]| parse_head(raw, &L).unwrap().unwrap().0;
        let first = head(b"GET / HTTP/1.1\r\nHost: a-long-host-name.example\r\nX-One: 1\r\nX-Two: 2\r\n\r\n");
        assert_eq!(first.headers.len(), 3);
        recycle_headers(first.headers);
        let second = head(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n");
        assert_eq!(second.headers, vec![("Host".to_string(), "b".to_string())]);
        recycle_headers(second.headers);
        let third = head(b"GET / HTTP/1.1\r\nHost: c\r\nAccept: */*\r\n\r\n");
        assert_eq!(
            third.headers,
            vec![
                ("Host".to_string(), "c".to_string()),
                ("Accept".to_string(), "*/*".to_string())
            ]
        );
    }

    #[test]
    fn parses_a_head() {
        let (h, n) = parse_head(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nrest", &L)
            .unwrap()
            .unwrap();
        assert_eq!((&*h.method, h.target.as_str(), h.version), ("GET", "/a?b=1", (1, 1)));
        assert_eq!(h.headers.len(), 2);
        assert_eq!(n, 40);
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n", &L).unwrap().is_none());
    }

    #[test]
    fn refuses_bad_heads() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &L)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", &L)
                .unwrap_err()
                .status,
            400
        );
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        assert_eq!(parse_head(long.as_bytes(), &L).unwrap_err().status, 414);
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(parse_head(big.as_bytes(), &L).unwrap_err().status, 494);
    }

    #[test]
    fn header_lines_nginx_ignores_are_dropped() {
        let (h, n) = parse_head(
            b"GET / HTTP/1.1\r\nHost: x\r\nX@Y: 1\r\nNoColon\r\nX-\x80: 2\r\nA: b\r\n\r\nrest",
            &L,
        )
        .unwrap()
        .unwrap();
        let names: Vec<&str> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!((names, n), (vec!["Host", "A"], 58));
        for bad in [&b"X Y: 1"[..], b"X-A : 1", b"X\x7fY: 1", b": x", b" folded"] {
            let head = [&b"GET / HTTP/1.1\r\nHost: x\r\n"[..], bad, b"\r\n\r\n"].concat();
            assert_eq!(
                parse_head(&head, &L).unwrap_err().status,
                400,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn http_versions_as_nginx_reads_them() {
        let head = |line: &str| parse_head(format!("{line}\r\nHost: x\r\n\r\n").as_bytes(), &L);
        let (h, n) = head("GET / HTTP/1.9").unwrap().unwrap();
        assert_eq!((h.version, n), ((1, 9), 27));
        let (h, n) = head("GET  /a   HTTP/1.42").unwrap().unwrap();
        assert_eq!((h.target.as_str(), h.version, n), ("/a", (1, 42), 32));
        for bad in ["GET / HTTP/2.0", "GET / HTTP/100.1"] {
            assert_eq!(head(bad).unwrap_err().status, 505, "{bad}");
        }
        // a method that can never be one is refused before its line ends
        assert_eq!(parse_head(b"hello", &L).unwrap_err().status, 400);
        assert!(parse_head(b"GET /", &L).unwrap().is_none());
    }

    #[test]
    fn framing_rules() {
        let h = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            body_framing(&h(&[("Content-Length", "5")]), (1, 1)),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            body_framing(&h(&[("Transfer-Encoding", "chunked")]), (1, 1)),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            body_framing(&h(&[("Content-Length", "5"), ("content-length", "6")]), (1, 1))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            body_framing(&h(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]), (1, 1))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            body_framing(&h(&[("Content-Length", "-1")]), (1, 1))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            body_framing(&h(&[("Transfer-Encoding", "gzip")]), (1, 1))
                .unwrap_err()
                .status,
            501
        );
    }

    #[test]
    fn targets_normalise() {
        let p = |t| parse_target(t, true).map(|(p, a, _)| (p, a));
        assert_eq!(p("/a/./b/../c?x=1"), Some(("/a/c".into(), "x=1".into())));
        assert_eq!(p("//a///b/"), Some(("/a/b/".into(), "".into())));
        assert_eq!(p("/%41%20b"), Some(("/A b".into(), "".into())));
        assert_eq!(p("/a/.."), Some(("/".into(), "".into())));
        assert_eq!(p("/../x"), None);
        assert_eq!(p("/%zz"), None);
        assert_eq!(p("x"), None);
        // the fast path leaves plain paths as they are, merge_slashes off keeps "//"
        assert_eq!(p("/plain/path.txt?a=b"), Some(("/plain/path.txt".into(), "a=b".into())));
        assert_eq!(parse_target("/a//b", false).map(|(p, _, _)| p), Some("/a//b".into()));
        assert_eq!(p("/a/b/."), Some(("/a/b/".into(), "".into())));
        // a fragment goes, before or after a query; a `?` inside one is not a query
        assert_eq!(p("/t?a=1#f?g"), Some(("/t".into(), "a=1".into())));
        assert_eq!(p("/t#f?g=1"), Some(("/t".into(), "".into())));
        assert_eq!(
            parse_target("/a//b/%2e%2e/c", false).map(|(p, _, _)| p),
            Some("/a//c".into())
        );
        assert_eq!(
            parse_target("http://h:1/p?q", true).map(|t| t.2),
            Some(Some("h:1".into()))
        );
    }

    #[test]
    fn hosts() {
        assert_eq!(validate_host("Example.COM:8080"), Some("example.com".into()));
        assert_eq!(validate_host("[::1]:80"), Some("[::1]".into()));
        assert_eq!(validate_host("a/b"), None);
        assert_eq!(validate_host("..x"), None);
        assert_eq!(validate_host("a..b"), None);
        assert_eq!(validate_host("a\0b"), None);
        assert_eq!(validate_host("a\\b:1"), None);
        assert_eq!(validate_host("a b"), None);
        assert_eq!(validate_host("a\x7fb"), None);
        assert_eq!(validate_host("x.COM.:80"), Some("x.com".into()));
        assert_eq!(validate_host("x.com..:80"), None);
        assert_eq!(validate_host("Ünï.de"), Some("Ünï.de".into()));
        assert_eq!(validate_host(".x"), None);
        assert_eq!(validate_host(":80"), None);
        assert_eq!(validate_host("[::1"), None);
        assert_eq!(validate_host("Example.com."), Some("example.com".into()));
        assert_eq!(validate_host("[::1]."), Some("[::1]".into()));
        assert_eq!(validate_host("..."), None);
    }

    #[test]
    fn chunked_decoding() {
        let mut c = Chunked::default();
        let mut out = Vec::new();
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let n = c.decode(input, &mut out).unwrap();
        assert!(c.done);
        assert_eq!(out, b"hello world");
        assert_eq!(&input[n..], b"NEXT");
        // byte by byte
        let mut c = Chunked::default();
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for &b in &input[..input.len() - 4] {
            pending.push(b);
            let n = c.decode(&pending, &mut out).unwrap();
            pending.drain(..n);
        }
        assert!(c.done);
        assert_eq!(out, b"hello world");
        assert!(Chunked::default().decode(b"zz\r\n", &mut out).is_err());
        assert!(Chunked::default().decode(b"5\r\nhelloXX", &mut out).is_err());
        assert!(Chunked::default().decode(b"fffffffffffffffff\r\n", &mut out).is_err());
    }
}
