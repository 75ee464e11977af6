//! The test client: sends requests as Test::Nginx does and parses what comes back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status line and header lines, each with its CRLF (Test::Nginx's raw headers).
    pub raw_head: String,
}

impl Response {
    /// All values of a header joined by ", ", as Test::Nginx (HTTP::Headers) reads them.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// Builds the bytes of a `--- request` the way Test::Nginx does: `METHOD URI [HTTP/x]`
/// then an optional body (the rest of the section, trailing newline dropped).
pub fn build_request(spec: &[u8], more_headers: &str, port: u16, close: bool) -> (Vec<u8>, String) {
    let spec = spec.strip_suffix(b"\n").unwrap_or(spec);
    // (the body is bytes as they are: a Perl string)
    let (line, body) = match spec.iter().position(|&c| c == b'\n') {
        Some(nl) => (
            String::from_utf8_lossy(&spec[..nl]).trim().to_string(),
            Some(spec[nl + 1..].to_vec()),
        ),
        None => (String::from_utf8_lossy(spec).trim().to_string(), None),
    };
    let mut parts: Vec<&str> = line.split_whitespace().collect();
    let has_version = parts.last().is_some_and(|p| p.starts_with("HTTP/"));
    if !has_version {
        parts.push("HTTP/1.1");
    }
    let method = parts.first().copied().unwrap_or("GET").to_string();
    let mut req = parts.join(" ");
    req.push_str("\r\n");
    let user_host = more_headers
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("host:"));
    if !user_host {
        req.push_str("Host: localhost\r\n");
    }
    let user_conn = more_headers
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("connection:"));
    if close && !user_conn {
        req.push_str("Connection: close\r\n");
    }
    for l in more_headers.lines() {
        if l.trim().is_empty() {
            continue;
        }
        req.push_str(l.trim_end());
        req.push_str("\r\n");
    }
    let user_len = more_headers.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("content-length:") || l.starts_with("transfer-encoding:")
    });
    if let Some(b) = &body
        && !user_len
    {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(&b);
    }
    let _ = port;
    (bytes, method)
}

/// Sends bytes, reads until the server closes (or the timeout), returns all it sent.
pub fn exchange(
    port: u16,
    data: &[u8],
    later: &[Vec<u8>],
    delay: Duration,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(100))).ok();
    s.write_all(data).map_err(|e| format!("write: {e}"))?;
    for piece in later {
        std::thread::sleep(delay);
        s.write_all(piece).map_err(|e| format!("write: {e}"))?;
    }
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if Instant::now() > deadline {
                    return Err(format!(
                        "timed out after {:?} reading the response ({} bytes so far)",
                        timeout,
                        out.len()
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(out),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Parses one response from `data`; returns it and the bytes it used.
pub fn parse_response(data: &[u8], head_only: bool) -> Result<(Response, usize), String> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| {
        format!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(&data[..data.len().min(200)])
        )
    })?;
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut r = Response {
        status,
        raw_head: String::from_utf8_lossy(&data[..end + 2]).into_owned(),
        ..Default::default()
    };
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            r.headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut pos = end + 4;
    // an interim response is what Test::Nginx reads as the response: its "body" is all
    // that follows (the final response included)
    if (100..200).contains(&status) {
        r.body = data[pos..].to_vec();
        return Ok((r, data.len()));
    }
    if head_only || status == 304 || status == 204 {
        return Ok((r, pos));
    }
    if r.header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let nl = data[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("truncated chunk size")?;
            let size_txt = String::from_utf8_lossy(&data[pos..pos + nl]).into_owned();
            let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_txt:?}"))?;
            pos += nl + 2;
            if size == 0 {
                // trailers until an empty line
                loop {
                    let nl = data[pos..]
                        .windows(2)
                        .position(|w| w == b"\r\n")
                        .ok_or("truncated trailer")?;
                    pos += nl + 2;
                    if nl == 0 {
                        break;
                    }
                }
                return Ok((r, pos));
            }
            if pos + size + 2 > data.len() {
                return Err("truncated chunk".into());
            }
            r.body.extend_from_slice(&data[pos..pos + size]);
            pos += size + 2;
        }
    }
    if let Some(len) = r.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        if pos + len > data.len() {
            return Err(format!(
                "body shorter than Content-Length {len}: got {}",
                data.len() - pos
            ));
        }
        r.body = data[pos..pos + len].to_vec();
        return Ok((r, pos + len));
    }
    r.body = data[pos..].to_vec();
    Ok((r, data.len()))
}
