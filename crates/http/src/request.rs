//! One HTTP request as it moves through the phases: what the client sent, what we answer,
//! and the connection it owns while it runs.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use crate::config::{HttpConf, Location, Server};
use crate::io::Io;

/// Header list that keeps the client's order and spelling; lookups ignore case.
#[derive(Default, Clone, Debug)]
pub struct Headers {
    pub list: Vec<(String, String)>,
}

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.list
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn remove(&mut self, name: &str) {
        self.list.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.list.push((name.to_string(), value.into()));
    }

    pub fn add(&mut self, name: &str, value: impl Into<String>) {
        self.list.push((name.to_string(), value.into()));
    }
}

/// Facts about the connection the request came on.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// nginx's connection number (`*N` in the error log, `$connection`).
    pub id: u64,
    /// The client: the socket's peer, or the address the realip module took from a
    /// trusted proxy's header (which then keeps the socket's, `realip::SocketPeer`).
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    /// How many requests this connection has carried, this one included.
    pub requests: u64,
}

/// Where the request body stands.
#[derive(Debug, Default)]
pub enum Body {
    /// Not read yet (or no body).
    #[default]
    Unread,
    /// Read into memory.
    Memory(Vec<u8>),
    /// Spooled to a temp file (larger than client_body_buffer_size).
    File(crate::body::TempFile, u64),
    /// Read and thrown away.
    Discarded,
}

/// How the client framed its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

pub struct Request {
    pub conn: ConnInfo,
    pub io: Io,
    /// `set` variables this request made "not found" (`ngx.var.x = nil`): nil when read,
    /// where one never set reads empty.
    pub unset_vars: Vec<String>,
    /// A subrequest's output (`ngx.location.capture`): its body is kept here, not sent;
    /// its head is not written (status and headers stay in the request).
    pub capture: Option<Vec<u8>>,
    /// A log handler that waits, and the index of the one after it: the connection goes
    /// on without the request, which runs the rest of its log phase on its own.
    pub log_wait: Option<Box<(usize, Box<dyn crate::phase::LogWait>)>>,
    /// In its log phase: lines it logs say so (nginx's "while logging request").
    pub logging: bool,
    pub http: Rc<HttpConf>,
    pub server: Rc<Server>,
    /// The location the request is in (the server's own level before find-config).
    pub loc: Rc<Location>,

    pub method: std::borrow::Cow<'static, str>,
    /// The request line's target as sent (`$request_uri`).
    pub unparsed_uri: String,
    /// Decoded, normalised path (`$uri`).
    pub uri: String,
    /// Query string without `?` (`$args`).
    pub args: String,
    pub version: (u8, u8),
    /// The method as the request line said it (`$request` keeps it when the method changes).
    pub line_method: std::borrow::Cow<'static, str>,
    pub headers_in: Headers,
    /// The Host without port, lowercased (`$host` falls back to server_name).
    pub host: Option<String>,
    pub framing: Framing,
    pub expect_continue: bool,
    /// The body is to be thrown away (`ngx.req.discard_body`): it is not read for the
    /// handler, and goes after the response.
    pub discard_pending: bool,
    pub body: Body,
    /// Bytes of the request head plus body read (`$request_length`).
    pub request_length: u64,

    pub status: u16,
    /// The status an `error_page` redirect keeps (nginx's err_status); 0 when none.
    pub err_status: u16,
    /// An error page was already used: a second error is answered by the built-in page.
    pub error_page_used: bool,
    pub headers_out: Headers,
    /// The response's Content-Type, kept apart from the other headers as nginx does.
    pub content_type: Option<std::sync::Arc<str>>,
    /// Content-Type was set or cleared by the handler: no default_type is added for it
    /// (lua-nginx-module's "mime set").
    pub content_type_set: bool,
    /// A header filter asked to end the response with this status instead (nginx's
    /// filter finalize, `ngx.exit(code)` in header_filter_by_lua): the headers are not
    /// sent, later output is dropped, and the engine answers with that status.
    pub filter_finalize: Option<u16>,
    /// The page now being sent answers a filter finalize: filters may not ask again.
    pub filter_page: bool,
    /// The response's Content-Length when known; none means chunked (or close for 1.0).
    pub content_length: Option<u64>,
    pub header_sent: bool,
    /// Header filters are running: headers can still change.
    pub filtering_header: bool,
    /// Framing of our response body.
    pub chunked: bool,
    pub keepalive: bool,
    pub header_only: bool,
    pub out: Vec<u8>,
    /// Output held back until the end so that it goes out with a Content-Length
    /// (lua_http10_buffering for HTTP/1.0 clients).
    pub hold_body: Option<Vec<u8>>,
    /// An explicit flush is passing through the body filters (`flush_filters`): those
    /// that hold data back (gzip) give out what they have.
    pub flushing: bool,
    pub bytes_sent: u64,
    pub body_bytes_sent: u64,
    pub eof_sent: bool,
    /// The connection broke while we wrote: stop writing, close after the log phase.
    pub write_failed: bool,

    pub start: Instant,
    /// Bytes per second the response goes out at (nginx's `r->limit_rate`): set by the
    /// limit_rate module from its directive or `$limit_rate`; `None`/0: no limit.
    pub limit_rate: Option<u64>,
    /// Bytes sent before the rate limit applies.
    pub limit_rate_after: u64,
    pub internal: bool,
    /// A rewrite-phase handler changed the URI: post-rewrite goes back to find-config.
    pub uri_changed: bool,
    /// The URI was changed in place (`rewrite`, `ngx.req.set_uri`): it is no longer the one
    /// the request line sent, nor the location's (nginx's !valid_unparsed_uri and
    /// !valid_location), which is what `proxy_pass` passes on.
    pub uri_rewritten: bool,
    /// The upstream a module talked to last, for the error log's context
    /// (`, upstream: "http://…"`): the server's URL and the URI sent to it. Kept to the
    /// request's end (its log phase, an error page after a failed try), as nginx keeps it.
    pub log_upstream: Option<(Rc<str>, Rc<str>)>,
    pub redirects: u8,
    /// `$1`..`$9` of the last regex that matched (location, if, rewrite); `$0` the whole.
    pub captures: Vec<String>,
    /// Variables set by `set` and by modules (`$name` → value).
    pub vars: HashMap<String, String>,
    /// The file the static handler served (`$request_filename`).
    pub filename: Option<PathBuf>,
    /// Per-request state of modules above http (Lua's ctx, its coroutine, ...).
    /// Few entries (one per module): a list scanned by type beats hashing.
    pub module_ctx: Vec<(std::any::TypeId, Box<dyn Any>)>,
}

impl Request {
    pub fn header_in(&self, name: &str) -> Option<&str> {
        self.headers_in.get(name)
    }

    /// `$request`: the request line as received (made when asked: few requests need it).
    pub fn request_line(&self) -> String {
        let version = if self.version >= (1, 1) { "HTTP/1.1" } else { "HTTP/1.0" };
        format!("{} {} {version}", self.line_method, self.unparsed_uri)
    }

    /// The URI's extension as nginx finds it (`r->exten`), for `types` and Lua.
    pub fn uri_extension(&self) -> &str {
        uri_extension(&self.uri)
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// `$host`: Host header, else the server's first name.
    /// The connection speaks TLS (`$scheme` is https).
    pub fn is_tls(&self) -> bool {
        matches!(*self.io.stream, crate::io::Stream::Tls(_))
    }

    pub fn host_var(&self) -> String {
        match &self.host {
            Some(h) => h.clone(),
            None => self.server.primary_name().to_string(),
        }
    }

    /// The error-log context nginx appends: `, client: …, server: …, request: "…", host: "…"`.
    pub fn log_context(&self) -> String {
        let mut s = String::new();
        if self.logging {
            s.push_str(" while logging request");
        }
        if let Some(p) = self.conn.peer {
            s.push_str(&format!(", client: {}", p.ip()));
        } else {
            s.push_str(", client: unix:");
        }
        s.push_str(&format!(", server: {}", self.server.primary_name()));
        if !self.line_method.is_empty() {
            s.push_str(&format!(", request: \"{}\"", self.request_line()));
        }
        if self.capture.is_some() {
            s.push_str(&format!(", subrequest: \"{}\"", self.uri));
        }
        if let Some((server, uri)) = &self.log_upstream {
            s.push_str(&format!(", upstream: \"{server}{uri}\""));
        }
        if let Some(h) = self.headers_in.get("host") {
            s.push_str(&format!(", host: \"{h}\""));
        }
        s
    }

    /// Logs a line about this request with nginx's trailing context.
    // (cold: a request that logs is off its usual path, and the code around each call is
    // laid out so, away from the common one)
    #[cold]
    pub fn log(&self, level: crate::log::Level, msg: &str) {
        if crate::log::enabled(level) {
            crate::log::write(level, self.conn.id, &format!("{msg}{}", self.log_context()));
        }
    }

    /// Matches `re` against `subject`, keeping the captures on success.
    pub fn capture(&mut self, re: &pcre2::bytes::Regex, subject: &str) -> bool {
        match re.captures(subject.as_bytes()) {
            Ok(Some(c)) => {
                self.captures = (0..c.len())
                    .map(|i| {
                        c.get(i)
                            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                            .unwrap_or_default()
                    })
                    .collect();
                // named groups are variables too (`(?<id>\d+)` sets `$id`), as in nginx
                for (name, value) in re.capture_names().iter().zip(&self.captures) {
                    if let Some(name) = name {
                        self.vars.insert(name.to_ascii_lowercase(), value.clone());
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// The modules' per-request states, emptied, to be kept for a later request.
    pub(crate) fn recycle_ctx(&mut self) {
        let list = std::mem::take(&mut self.module_ctx);
        SPARE_CTX.with(|s| s.give_emptied(list, 8));
    }

    /// A module's per-request state, to read.
    pub fn ctx_ref<T: Any>(&self) -> Option<&T> {
        let id = std::any::TypeId::of::<T>();
        self.module_ctx
            .iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.downcast_ref())
    }

    pub fn ctx<T: Any>(&mut self) -> Option<&mut T> {
        let id = std::any::TypeId::of::<T>();
        self.module_ctx
            .iter_mut()
            .find(|(t, _)| *t == id)
            .and_then(|(_, b)| b.downcast_mut())
    }

    pub fn set_ctx<T: Any>(&mut self, v: T) {
        let id = std::any::TypeId::of::<T>();
        match self.module_ctx.iter_mut().find(|(t, _)| *t == id) {
            Some((_, slot)) => *slot = Box::new(v),
            None => self.module_ctx.push((id, Box::new(v))),
        }
    }
}
/// What follows the last '.' of a path's last segment ("" without one, or when the dot
/// starts the segment: `/.hidden`), as nginx's `ngx_http_set_exten`.
pub fn uri_extension(path: &str) -> &str {
    let b = path.as_bytes();
    for i in (2..b.len()).rev() {
        match b[i] {
            b'.' if b[i - 1] != b'/' => return &path[i + 1..],
            b'/' => return "",
            _ => {}
        }
    }
    ""
}

/// The user and password of an `Authorization: Basic …` header.
pub fn credentials(r: &Request) -> Option<(String, String)> {
    let value = r.headers_in.get("authorization")?.trim_start();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::uri_extension;

    #[test]
    fn extensions_as_nginx_finds_them() {
        for (uri, ext) in [
            ("/test.m3u8", "m3u8"),
            ("/a/b.tar.gz", "gz"),
            ("/dir.d/file", ""),
            ("/.hidden", ""),
            ("/dir/.hidden", ""),
            ("/file.", ""),
            ("/", ""),
            ("/a.b", "b"),
        ] {
            assert_eq!(uri_extension(uri), ext, "{uri}");
        }
    }
}

thread_local! {
    /// Lists of module states of finished requests (emptied), for the next requests.
    static SPARE_CTX: crate::spare::Spares<Vec<(std::any::TypeId, Box<dyn Any>)>> = const { crate::spare::Spares::new(8) };
}

/// An empty list of module states, with an earlier request's capacity when one is spare.
pub(crate) fn spare_ctx() -> Vec<(std::any::TypeId, Box<dyn Any>)> {
    SPARE_CTX.with(|s| s.take()).unwrap_or_default()
}
