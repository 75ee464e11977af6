//! Sending the response: the head (through the header filters), the body (through the body
//! filters, framed with Content-Length or chunked), and nginx's special responses.

use std::time::Duration;

use crate::conditional::Answer;
use crate::request::Request;
use crate::spare::Spares;
use crate::status;

/// The types nginx knows without a `types` block.
static BUILTIN_TYPES: std::sync::LazyLock<[(&str, std::sync::Arc<str>); 3]> = std::sync::LazyLock::new(|| {
    [
        ("html", std::sync::Arc::from("text/html")),
        ("gif", std::sync::Arc::from("image/gif")),
        ("jpg", std::sync::Arc::from("image/jpeg")),
    ]
});

/// Output is written to the socket once this much is buffered (or on flush / eof).
const WRITE_THRESHOLD: usize = 16 * 1024;

impl Request {
    /// Builds the response head into the output buffer. Idempotent.
    pub fn send_header(&mut self) {
        if self.header_sent || self.filtering_header {
            return;
        }
        if self.err_status != 0 {
            self.status = self.err_status;
        }
        if self.status == 0 {
            self.status = 200;
        }
        if self.status == 200 {
            // nginx's not_modified filter runs before the others: they see its answer
            match crate::conditional::check(self) {
                Answer::Send => {}
                Answer::NotModified => {
                    self.status = 304;
                    self.headers_out.remove("accept-ranges");
                }
                Answer::PreconditionFailed => {
                    self.filter_finalize = Some(412);
                    return;
                }
            }
        }
        // filters may still change the status and headers: they are not sent yet
        let loc = self.loc.clone();
        self.filtering_header = true;
        for f in loc.phases.header_filters.iter() {
            f.filter(self);
        }
        self.filtering_header = false;
        if self.filter_finalize.is_some() {
            // nothing of this response goes out: the engine answers with the status asked
            return;
        }
        self.header_sent = true;
        // a subrequest's head is not written: its status and headers are read from it
        if self.capture.is_some() {
            self.chunked = false;
            if self.is_head() || matches!(self.status, 204 | 304) {
                self.header_only = true;
            }
            return;
        }
        // HTTP/0.9 has no head: the body alone, then the connection closes
        if self.version == (0, 9) {
            self.keepalive = false;
            self.chunked = false;
            return;
        }
        if self.is_head() || matches!(self.status, 204 | 304) {
            self.header_only = true;
        }
        // a 1xx response (101 Switching Protocols: what follows is the new protocol's)
        // gets no body framing, as nginx's chunked filter leaves it
        let informational = self.status < 200;
        let start = self.out.len();
        self.out.reserve(256);
        status::write_line(&mut self.out, status::wire_status(self.status));
        let s = &loc.settings;
        // (a Server or Date of the response's own replaces the built-in one; an empty one,
        // headers-more's clearing, removes it)
        if self.headers_out.list.is_empty() || self.headers_out.get("server").is_none() {
            self.out.extend_from_slice(if s.server_tokens() {
                concat!("Server: oxiresty/", crate::nginx_version!(), "\r\n").as_bytes()
            } else {
                b"Server: oxiresty\r\n"
            });
        }
        if self.headers_out.list.is_empty() || self.headers_out.get("date").is_none() {
            crate::time::with(|t| {
                self.out.extend_from_slice(b"Date: ");
                self.out.extend_from_slice(t.http.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            });
        }
        if matches!(self.status, 204 | 304) {
            self.content_length = None;
            self.content_type = None;
        }
        if let Some(ct) = &self.content_type {
            self.out.extend_from_slice(b"Content-Type: ");
            push_field(&mut self.out, ct);
            self.out.extend_from_slice(b"\r\n");
        }
        if let Some(n) = self.content_length {
            self.out.extend_from_slice(b"Content-Length: ");
            let mut digits = [0u8; 20];
            self.out.extend_from_slice(format_digits(n, 10, &mut digits));
            self.out.extend_from_slice(b"\r\n");
        }
        let has_length = self.content_length.is_some();
        // nginx's order: the headers it keeps apart (Last-Modified, Location) before the
        // framing and Connection lines, the others after them
        let apart = |n: &str| n.eq_ignore_ascii_case("last-modified") || n.eq_ignore_ascii_case("location");
        let write_headers = |out: &mut Vec<u8>, list: &[(String, String)], first: bool| {
            for (n, v) in list {
                if n.eq_ignore_ascii_case("connection")
                    || n.eq_ignore_ascii_case("transfer-encoding")
                    || (v.is_empty() && (n.eq_ignore_ascii_case("server") || n.eq_ignore_ascii_case("date")))
                    || apart(n) != first
                {
                    continue;
                }
                push_field(out, n);
                out.extend_from_slice(b": ");
                push_field(out, v);
                out.extend_from_slice(b"\r\n");
            }
        };
        write_headers(&mut self.out, &self.headers_out.list, true);
        self.chunked = false;
        if !has_length && !self.header_only && !informational {
            if self.version >= (1, 1) && s.chunked_transfer_encoding() {
                self.chunked = true;
                self.out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            } else {
                // HTTP/1.0 with no length: the end of the body is the end of the connection.
                self.keepalive = false;
            }
        }
        if self.keepalive && self.keepalive_disabled_for_browser() {
            self.keepalive = false;
        }
        if self.keepalive
            && (crate::worker::shutting_down()
                || s.keepalive_timeout_ms() == 0
                || self.conn.requests >= s.keepalive_requests())
        {
            self.keepalive = false;
        }
        if self.status == 101 {
            // (nginx's header filter writes this for it)
            self.keepalive = false;
            self.out.extend_from_slice(b"Connection: upgrade\r\n");
        } else if self.keepalive {
            self.out.extend_from_slice(b"Connection: keep-alive\r\n");
            if let Some(t) = s.keepalive_header_sec() {
                self.out
                    .extend_from_slice(format!("Keep-Alive: timeout={t}\r\n").as_bytes());
            }
        } else {
            self.out.extend_from_slice(b"Connection: close\r\n");
        }
        write_headers(&mut self.out, &self.headers_out.list, false);
        self.out.extend_from_slice(b"\r\n");
        self.bytes_sent += (self.out.len() - start) as u64;
    }

    /// Which script filters (header, body) body output would run now. Output held back
    /// for its length (`hold_body`) runs none until its end.
    pub fn output_runs_script(&self) -> (bool, bool) {
        if self.hold_body.is_some() || self.filter_finalize.is_some() {
            return (false, false);
        }
        let t = &self.loc.phases;
        (
            !self.header_sent && t.header_filters.iter().any(|f| f.runs_script()),
            t.body_filters.iter().any(|f| f.runs_script()),
        )
    }

    /// Sends a body chunk through the body filters; `eof` ends the body. Writes to the
    /// client when enough is buffered or at the end.
    pub async fn send_body(&mut self, data: &[u8], eof: bool) {
        self.buffer_body(data, eof);
        if self.eof_sent || self.out.len() >= WRITE_THRESHOLD {
            self.flush().await;
        }
    }

    /// An explicit flush (`ngx.flush`, `echo_flush`): an empty piece goes through the body
    /// filters with `flushing` set, so that those holding data back (gzip's compressor)
    /// give it out, as nginx's flush buffers make them.
    pub fn flush_filters(&mut self) {
        if !self.header_sent || self.eof_sent || self.hold_body.is_some() || self.loc.phases.body_filters.is_empty() {
            return;
        }
        self.flushing = true;
        self.buffer_body(&[], false);
        self.flushing = false;
    }

    /// As `send_body` without writing: the bytes wait in the output buffer for the next
    /// flush (the engine flushes when the request ends).
    pub fn buffer_body(&mut self, data: &[u8], eof: bool) {
        if !self.header_sent
            && let Some(held) = &mut self.hold_body
        {
            held.extend_from_slice(data);
            if !eof {
                return;
            }
            // the whole body is known: it goes out with its length
            let all = self.hold_body.take().unwrap_or_default();
            if self.content_length.is_none() && self.loc.phases.body_filters.is_empty() {
                self.content_length = Some(all.len() as u64);
            }
            return self.buffer_body(&all, true);
        }
        self.send_header();
        if self.eof_sent || self.filter_finalize.is_some() {
            return;
        }
        let loc = self.loc.clone();
        if loc.phases.body_filters.is_empty() {
            self.frame(data, eof);
            return;
        }
        let mut chunk = data.to_vec();
        let mut eof = eof;
        for f in loc.phases.body_filters.iter() {
            f.filter(self, &mut chunk, &mut eof);
        }
        self.frame(&chunk, eof);
    }

    fn frame(&mut self, chunk: &[u8], eof: bool) {
        if !self.header_only && !chunk.is_empty() {
            self.body_bytes_sent += chunk.len() as u64;
            self.bytes_sent += chunk.len() as u64;
            if self.chunked {
                let mut digits = [0u8; 20];
                self.out
                    .extend_from_slice(format_digits(chunk.len() as u64, 16, &mut digits));
                self.out.extend_from_slice(b"\r\n");
                self.out.extend_from_slice(chunk);
                self.out.extend_from_slice(b"\r\n");
            } else {
                self.out.extend_from_slice(chunk);
            }
        }
        if eof {
            self.eof_sent = true;
            if self.chunked && !self.header_only {
                self.out.extend_from_slice(b"0\r\n\r\n");
            }
        }
    }

    /// Sends the whole body from a file with sendfile(2) (`sendfile on`, no body filter
    /// active for it, a known length). False: not possible here, none of the body was sent
    /// (the head may have been), write it instead.
    pub async fn send_file(&mut self, file: &std::fs::File, offset: u64, len: u64) -> bool {
        if self.capture.is_some()
            || !self.loc.settings.sendfile()
            || !self.io.stream.can_sendfile()
            || self.content_length != Some(len)
        {
            return false;
        }
        self.send_header();
        if self.filter_finalize.is_some() {
            return true;
        }
        // (the header filters have decided: gzip, say, may have taken the length away)
        let loc = self.loc.clone();
        if self.content_length != Some(len) || loc.phases.body_filters.iter().any(|f| f.active(self)) {
            return false;
        }
        // (the header filters have set the rate limit)
        if self.header_only || self.limit_rate() > 0 {
            return false;
        }
        self.flush().await;
        self.eof_sent = true;
        if self.write_failed {
            return true;
        }
        let timeout = Duration::from_millis(self.loc.settings.send_timeout_ms());
        match self.io.send_file(file, offset, len, timeout).await {
            Ok(()) => {
                self.body_bytes_sent += len;
                self.bytes_sent += len;
            }
            Err(e) => {
                self.write_failed = true;
                self.keepalive = false;
                self.log(
                    crate::log::Level::Info,
                    &format!("sendfile() failed ({e}) while sending response to client"),
                );
            }
        }
        true
    }

    /// Writes what is buffered to the client (a subrequest keeps it).
    pub async fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if let Some(kept) = &mut self.capture {
            kept.append(&mut self.out);
            return;
        }
        let out = std::mem::take(&mut self.out);
        if self.write_failed {
            return;
        }
        let timeout = Duration::from_millis(self.loc.settings.send_timeout_ms());
        let written = match self.limit_rate() {
            0 => self.io.write_all(&out, timeout).await,
            // (boxed: its timer would otherwise sit in every future that flushes)
            rate => Box::pin(self.write_limited(&out, rate, timeout)).await,
        };
        if let Err(e) = written {
            self.write_failed = true;
            self.keepalive = false;
            if e.kind() == std::io::ErrorKind::TimedOut {
                self.log(
                    crate::log::Level::Info,
                    "client timed out (110: Connection timed out) while sending response to client",
                );
            } else {
                self.log(
                    crate::log::Level::Info,
                    &format!("writev() failed ({e}) while sending response to client"),
                );
            }
        }
        let mut out = out;
        out.clear();
        if self.out.is_empty() && out.capacity() <= 64 * 1024 {
            self.out = out;
        }
    }

    /// `keepalive_disable`: old MSIE after a POST (msie6, the default), Safari.
    fn keepalive_disabled_for_browser(&self) -> bool {
        let (msie6, safari) = self.loc.settings.keepalive_disable();
        let msie6 = msie6 && self.method == "POST";
        if !msie6 && !safari {
            return false;
        }
        let Some(ua) = self.headers_in.get("user-agent") else {
            return false;
        };
        if msie6 && is_msie6(ua) {
            return true;
        }
        safari && ua.contains("Safari/") && ua.contains("Mac OS X") && !ua.contains("Chrome/")
    }

    /// The response's rate limit in bytes per second; 0: none.
    pub fn limit_rate(&self) -> u64 {
        self.limit_rate.unwrap_or(0)
    }

    /// Writes `data` no faster than `rate` once `limit_rate_after` bytes are out, as
    /// nginx's write filter: what may go now is the rate times the seconds since the
    /// request began (plus one), less what went past the free allowance.
    async fn write_limited(&mut self, data: &[u8], rate: u64, timeout: Duration) -> std::io::Result<()> {
        let after = i128::from(self.limit_rate_after);
        let rate = i128::from(rate);
        let mut pos = 0;
        while pos < data.len() {
            let written = self.ctx_ref::<Written>().map_or(0, |w| w.0);
            let elapsed = i128::from(self.start.elapsed().as_secs()) + 1;
            let allowed = rate * elapsed - (i128::from(written) - after);
            if allowed <= 0 {
                let ms = u64::try_from(-allowed * 1000 / rate + 1).unwrap_or(u64::MAX);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                continue;
            }
            let n = usize::try_from(allowed).unwrap_or(usize::MAX).min(data.len() - pos);
            self.io.write_all(&data[pos..pos + n], timeout).await?;
            self.set_ctx(Written(written + n as u64));
            pos += n;
        }
        Ok(())
    }

    /// Sends a complete response with this body (status and headers already set).
    pub async fn respond(&mut self, body: &[u8]) {
        if !self.header_sent {
            self.content_length = Some(body.len() as u64);
        }
        self.send_body(body, true).await;
    }

    /// nginx's special response: the built-in page for `code` (error_page was handled before).
    pub async fn special_response(&mut self, code: u16) {
        // a page replaces whatever output was being held back
        self.hold_body = None;
        if self.header_sent {
            self.send_body(&[], true).await;
            return;
        }
        if status::closes_connection(code) {
            self.keepalive = false;
        }
        // the page's status is the response's, even in an error page's location (nginx's
        // special response handler sets err_status)
        self.status = code;
        self.err_status = code;
        // validators and ranges describe a body this page is not
        for h in ["accept-ranges", "last-modified", "etag", "content-encoding"] {
            self.headers_out.remove(h);
        }
        if !(300..400).contains(&code) {
            self.headers_out.remove("location");
        }
        // a subrequest's error has no page: the status alone (and the default type), as
        // nginx answers a subrequest
        if self.capture.is_some() {
            if self.content_type.is_none() {
                self.content_type = Some(self.loc.settings.default_type());
            }
            self.content_length = None;
            self.send_body(&[], true).await;
            return;
        }
        match status::page(code, self.loc.settings.server_tokens()) {
            Some(page) if !matches!(code, 204 | 304) => {
                self.content_type = Some(std::sync::Arc::from("text/html"));
                self.respond(page.as_bytes()).await;
            }
            _ => {
                if !matches!(code, 204 | 304) {
                    self.content_length = Some(0);
                }
                self.send_body(&[], true).await;
            }
        }
    }

    /// The Content-Type for a path by its extension (`types {}`), else `default_type`.
    pub fn content_type_for(&self, path: &str) -> std::sync::Arc<str> {
        let s = &self.loc.settings;
        let ext = crate::request::uri_extension(path);
        let found = (!ext.is_empty()).then_some(ext).and_then(|ext| {
            let Some(types) = s.types.as_ref() else {
                // no `types` anywhere: nginx's built-in three
                return BUILTIN_TYPES
                    .iter()
                    .find(|(e, _)| e.eq_ignore_ascii_case(ext))
                    .map(|(_, t)| t.clone());
            };
            match types.get(ext) {
                Some(t) => Some(t.clone()),
                None if ext.bytes().any(|b| b.is_ascii_uppercase()) => types.get(&ext.to_ascii_lowercase()).cloned(),
                None => None,
            }
        });
        found.unwrap_or_else(|| s.default_type())
    }

    /// Sets Content-Type to `default_type` unless set.
    pub fn set_default_content_type(&mut self) {
        if self.content_type.is_none() && !self.content_type_set {
            self.content_type = Some(self.loc.settings.default_type());
        }
    }

    /// Makes a redirect target absolute as nginx does (absolute_redirect on).
    pub fn absolute_location(&self, target: &str) -> String {
        let s = &self.loc.settings;
        if !target.starts_with('/') || !s.absolute_redirect() {
            return target.to_string();
        }
        let host = if s.server_name_in_redirect() {
            self.server.primary_name().to_string()
        } else {
            self.host_var()
        };
        let port = self.conn.local.map(|a| a.port()).unwrap_or(80);
        if port == 80 || !s.port_in_redirect() {
            format!("http://{host}{target}")
        } else {
            format!("http://{host}:{port}{target}")
        }
    }
}

/// Bytes written for a rate-limited response, headers included.
struct Written(u64);

/// MSIE 4, 5, or 6 without SV1, as nginx tells them (`MSIE 6.0; ...`).
pub(crate) fn is_msie6(ua: &str) -> bool {
    let Some(at) = ua.find("MSIE ") else {
        return false;
    };
    let v = &ua.as_bytes()[at + 5..];
    match (v.first(), v.get(1)) {
        (Some(b'4' | b'5'), Some(b'.')) => true,
        (Some(b'6'), Some(b'.')) => !ua[at..].contains("SV1"),
        _ => false,
    }
}

/// `n` in base 10 or 16 (lowercase), written at the end of `buf`: Content-Length, chunk
/// sizes, ETags, without the formatting machinery.
pub fn format_digits(mut n: u64, radix: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n % radix) as usize];
        n /= radix;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Appends a header name or value. Whatever set it, a CR or LF must not end the line
/// early (a split response): the modules escape them, and this is the last guard.
fn push_field(out: &mut Vec<u8>, text: &str) {
    let start = out.len();
    out.extend_from_slice(text.as_bytes());
    for b in &mut out[start..] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
}

thread_local! {
    /// Output buffers of finished requests (cleared), for the next requests.
    static SPARE_OUT: Spares<Vec<u8>> = const { Spares::new(8) };
}

/// An empty output buffer, with the capacity of an earlier request's when one is spare.
pub(crate) fn spare_out() -> Vec<u8> {
    SPARE_OUT.with(|s| s.take()).unwrap_or_default()
}

/// Keeps a finished request's output buffer for a later request: up to 8 of at most
/// 8 KiB per worker.
pub(crate) fn recycle_out(out: Vec<u8>) {
    SPARE_OUT.with(|s| s.give_emptied(out, 8 * 1024));
}

#[cfg(test)]
mod field_tests {
    #[test]
    fn a_field_never_ends_the_line() {
        let mut out = b"X: ".to_vec();
        super::push_field(&mut out, "a\r\nSet-Cookie: b");
        assert_eq!(out, b"X: a  Set-Cookie: b");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_chunk_sizes() {
        let mut buf = [0u8; 20];
        for (n, want) in [
            (0u64, "0"),
            (1, "1"),
            (15, "f"),
            (16, "10"),
            (255, "ff"),
            (4096, "1000"),
        ] {
            assert_eq!(super::format_digits(n, 16, &mut buf), want.as_bytes());
        }
        assert_eq!(
            super::format_digits(u64::MAX, 16, &mut buf),
            format!("{:x}", u64::MAX).as_bytes()
        );
    }
}
