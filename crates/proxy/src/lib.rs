//! Upstreams and the proxy module: what makes an OpenResty server a gateway. Modules of the
//! http core as nginx's are (`http::Module`): `upstream` blocks and their balancing
//! (`upstream.rs`), `proxy_pass` and the `proxy_*` directives (here), and the handler that
//! forwards a request and streams the answer back (`handler.rs`).

mod balance;
pub mod balancer;
mod buffering;
mod cookie;
mod handler;
mod pool;
mod redirect;
mod response;
pub mod ssl;
mod tunnel;
pub mod upstream;
mod vars;

use std::net::SocketAddr;
use std::rc::Rc;

use conf::registry::{Args, Directive, HTTP, LIF, LMT, LOC, SRV};
use conf::{Cmd, Result};
use http::builder::{HttpBuilder, LocDraft};
use http::config::Match;
use http::ext::ExtConf;
use http::module::{Module, Phases};
use http::template::Template;

use upstream::{Upstream, Upstreams};

pub static UPSTREAM_MODULE: Module = Module {
    variables: vars::UPSTREAM_VARIABLES,
    prefix_variables: vars::UPSTREAM_PREFIX_VARIABLES,
    ..Module::new("ngx_http_upstream_module", UPSTREAM_DIRECTIVES)
};

static UPSTREAM_DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::block(
    "upstream",
    HTTP,
    Args::Block(1, 1),
    upstream::upstream_block,
)];

pub static MODULE: Module = Module {
    install: Some(install),
    variables: vars::PROXY_VARIABLES,
    ..Module::new("ngx_http_proxy_module", DIRECTIVES)
};

const ALL: u32 = HTTP | SRV | LOC;

/// nginx's words for an upstream that did not answer in time (the log line goes on with
/// what the try was doing).
const TIMED_OUT: &str = "upstream timed out (110: Connection timed out)";

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("proxy_pass", LOC | LIF | LMT, Args::Exactly(1), proxy_pass),
    Directive::value("proxy_ssl_server_name", ALL, Args::Flag, ssl::directive),
    Directive::value("proxy_ssl_name", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_verify", ALL, Args::Flag, ssl::directive),
    Directive::value("proxy_ssl_verify_depth", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_trusted_certificate", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_certificate", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_certificate_key", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_protocols", ALL, Args::AtLeast(1), ssl::directive),
    Directive::value("proxy_ssl_ciphers", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_session_reuse", ALL, Args::Flag, ssl::directive),
    Directive::value("proxy_ssl_crl", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_password_file", ALL, Args::Exactly(1), ssl::directive),
    Directive::value("proxy_ssl_conf_command", ALL, Args::Exactly(2), ssl::directive),
    Directive::value("proxy_set_header", ALL, Args::Exactly(2), set_header),
    Directive::value("proxy_redirect", ALL, Args::Range(1, 2), redirect::directive),
    Directive::value("proxy_intercept_errors", ALL, Args::Flag, intercept_errors),
    Directive::value("proxy_cookie_domain", ALL, Args::Range(1, 2), cookie::directive),
    Directive::value("proxy_cookie_path", ALL, Args::Range(1, 2), cookie::directive),
    Directive::value("proxy_cookie_flags", ALL, Args::Range(1, 5), cookie::flags_directive),
    Directive::value("proxy_ignore_headers", ALL, Args::AtLeast(1), ignore_headers),
    Directive::value("proxy_ignore_client_abort", ALL, Args::Flag, ignore_client_abort),
    Directive::value("proxy_http_version", ALL, Args::Exactly(1), http_version),
    Directive::value("proxy_pass_request_headers", ALL, Args::Flag, pass_request_headers),
    Directive::value("proxy_pass_request_body", ALL, Args::Flag, pass_request_body),
    Directive::value("proxy_set_body", ALL, Args::Exactly(1), set_body),
    Directive::value("proxy_bind", ALL, Args::Range(1, 2), bind),
    Directive::value("proxy_method", ALL, Args::Exactly(1), method),
    Directive::value("proxy_connect_timeout", ALL, Args::Exactly(1), connect_timeout),
    Directive::value("proxy_send_timeout", ALL, Args::Exactly(1), send_timeout),
    Directive::value("proxy_read_timeout", ALL, Args::Exactly(1), read_timeout),
    Directive::value("proxy_buffer_size", ALL, Args::Exactly(1), buffer_size),
    Directive::value("proxy_buffering", ALL, Args::Flag, buffering),
    Directive::value("proxy_request_buffering", ALL, Args::Flag, request_buffering),
    Directive::value("proxy_buffers", ALL, Args::Exactly(2), buffers),
    Directive::value("proxy_busy_buffers_size", ALL, Args::Exactly(1), busy_buffers_size),
    Directive::value("proxy_max_temp_file_size", ALL, Args::Exactly(1), max_temp_file_size),
    Directive::value("proxy_temp_path", ALL, Args::Range(1, 4), temp_path),
    Directive::value(
        "proxy_temp_file_write_size",
        ALL,
        Args::Exactly(1),
        temp_file_write_size,
    ),
    Directive::value("proxy_hide_header", ALL, Args::Exactly(1), hide_header),
    Directive::value("proxy_pass_header", ALL, Args::Exactly(1), pass_header),
    Directive::value("proxy_next_upstream", ALL, Args::AtLeast(1), next_upstream),
    Directive::value("proxy_next_upstream_tries", ALL, Args::Exactly(1), next_upstream_tries),
    Directive::value(
        "proxy_next_upstream_timeout",
        ALL,
        Args::Exactly(1),
        next_upstream_timeout,
    ),
];

/// True once the proxy handles `r` (it has an upstream, nginx's `r->upstream`).
pub fn proxied(r: &http::request::Request) -> bool {
    r.ctx_ref::<vars::ProxyState>().is_some()
}

/// Where `proxy_pass` sends requests.
#[derive(Clone, Debug)]
pub struct ProxyPass {
    /// The URL as written (variables in it are rendered per request).
    pub url: Template,
    /// For a URL without variables: its parts, resolved when the config is read.
    pub fixed: Option<Rc<Target>>,
    /// The location's prefix, replaced by the URL's URI part (prefix locations only).
    pub location: Option<String>,
    pub at: conf::Location,
}

/// A parsed `proxy_pass` URL.
#[derive(Debug)]
pub struct Target {
    pub upstream: Rc<Upstream>,
    /// `$proxy_host`: the upstream's name, or `host[:port]` (the port when not 80).
    pub host: String,
    /// `$proxy_port`.
    pub port: String,
    /// The URI part (`None`: none was given, the request's URI goes as it is).
    pub uri: Option<String>,
    /// `https://`: the connection speaks TLS (ssl.rs).
    pub tls: bool,
}

/// Which failures send a request to the next server (`proxy_next_upstream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextUpstream {
    pub error: bool,
    pub timeout: bool,
    pub invalid_header: bool,
    pub non_idempotent: bool,
    /// Statuses (500, 502, 503, 504, 403, 404, 429) that count as failures.
    pub statuses: [bool; 7],
}

pub const NEXT_STATUSES: [u16; 7] = [500, 502, 503, 504, 403, 404, 429];

impl Default for NextUpstream {
    fn default() -> Self {
        NextUpstream {
            error: true,
            timeout: true,
            invalid_header: false,
            non_idempotent: false,
            statuses: [false; 7],
        }
    }
}

/// The proxy module's settings of a level.
#[derive(Clone, Default)]
pub struct ProxyConf {
    /// Not inherited: a location proxies only where it says so.
    pub pass: Option<Rc<ProxyPass>>,
    /// This level's `proxy_set_header`s (a level with any replaces its parent's).
    pub headers: Option<Rc<Vec<(String, Template)>>>,
    pub http_version: Option<(u8, u8)>,
    pub pass_request_headers: Option<bool>,
    pub pass_request_body: Option<bool>,
    pub set_body: Option<Template>,
    pub method: Option<Template>,
    pub connect_timeout: Option<u64>,
    pub send_timeout: Option<u64>,
    pub read_timeout: Option<u64>,
    pub buffer_size: Option<u64>,
    pub hide_headers: Option<Rc<Vec<String>>>,
    pub pass_headers: Option<Rc<Vec<String>>>,
    pub next_upstream: Option<NextUpstream>,
    pub next_upstream_tries: Option<u64>,
    pub next_upstream_timeout: Option<u64>,
    /// `proxy_redirect` (a level with any replaces its parent's; none: `default`).
    pub redirects: Option<redirect::Redirects>,
    pub intercept_errors: Option<bool>,
    pub ignore_headers: Option<IgnoreHeaders>,
    pub ignore_client_abort: Option<bool>,
    pub buffering: Option<bool>,
    pub request_buffering: Option<bool>,
    /// `proxy_buffers N size`: read ahead of the client, N buffers of size bytes.
    pub buffers: Option<(u64, u64)>,
    /// `proxy_busy_buffers_size` and `proxy_temp_file_write_size`: nginx's knobs for its
    /// buffer chains, kept to check them against the others as nginx does.
    pub busy_buffers_size: Option<u64>,
    pub temp_file_write_size: Option<u64>,
    /// `proxy_max_temp_file_size`: how much more may wait in a temp file (0: none).
    pub max_temp_file_size: Option<u64>,
    /// `proxy_temp_path` (relative to the prefix).
    pub temp_path: Option<Rc<TempPath>>,
    pub cookie_domain: Option<cookie::Rules>,
    pub cookie_path: Option<cookie::Rules>,
    pub cookie_flags: Option<cookie::FlagRules>,
    /// `proxy_bind` (`Some(None)`: `off`, which stops the parent's).
    pub bind: Option<Option<Rc<Bind>>>,
}

/// `proxy_bind ADDRESS [transparent]`: the local address upstream connections start
/// from.
pub struct Bind {
    pub addr: BindAddr,
    /// IP_TRANSPARENT: a non-local address (the client's) may be bound.
    pub transparent: bool,
}

pub enum BindAddr {
    Fixed(SocketAddr),
    /// Evaluated per request: an empty value binds nothing, one that is no address is
    /// logged (`invalid local address "…"`) and binds nothing, as nginx.
    Template(Template),
}

/// `proxy_ignore_headers`: the upstream headers whose special meaning is ignored (they
/// still go to the client unless hidden). Expires, Cache-Control, Set-Cookie and Vary only
/// steer a cache, which is not here: they are accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IgnoreHeaders {
    pub accel_redirect: bool,
    pub accel_limit_rate: bool,
    pub accel_buffering: bool,
}

impl ExtConf for ProxyConf {
    fn merge(&mut self, parent: &Self) {
        macro_rules! inherit {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = parent.$f.clone(); } )* };
        }
        inherit!(
            headers,
            http_version,
            pass_request_headers,
            pass_request_body,
            set_body,
            method,
            connect_timeout,
            send_timeout,
            read_timeout,
            buffer_size,
            hide_headers,
            pass_headers,
            next_upstream,
            next_upstream_tries,
            next_upstream_timeout,
            redirects,
            intercept_errors,
            ignore_headers,
            ignore_client_abort,
            cookie_domain,
            cookie_path,
            cookie_flags,
            buffering,
            buffers,
            busy_buffers_size,
            temp_file_write_size,
            request_buffering,
            max_temp_file_size,
            temp_path,
            bind
        );
    }
}

impl ProxyConf {
    pub fn http_version(&self) -> (u8, u8) {
        self.http_version.unwrap_or((1, 0))
    }
    pub fn connect_timeout_ms(&self) -> u64 {
        self.connect_timeout.unwrap_or(60_000)
    }
    pub fn send_timeout_ms(&self) -> u64 {
        self.send_timeout.unwrap_or(60_000)
    }
    pub fn read_timeout_ms(&self) -> u64 {
        self.read_timeout.unwrap_or(60_000)
    }
    /// `proxy_max_temp_file_size` (1 GiB by default).
    pub fn max_temp_file(&self) -> u64 {
        self.max_temp_file_size.unwrap_or(1 << 30)
    }
    /// `proxy_buffers N size` (8 pages by default).
    fn buffer_count_size(&self) -> (u64, u64) {
        self.buffers.unwrap_or((8, 4096))
    }
    /// `proxy_buffers`: how far the body is read ahead of the client.
    pub fn buffers_bytes(&self) -> usize {
        let (n, size) = self.buffer_count_size();
        n.saturating_mul(size) as usize
    }
    /// proxy_buffer_size: the most an upstream's response head may take (one page).
    pub fn buffer_size(&self) -> usize {
        self.buffer_size.unwrap_or(4096) as usize
    }
}

fn proxy(b: &mut HttpBuilder) -> &mut ProxyConf {
    b.loc().conf::<ProxyConf>()
}

/// `proxy_pass URL`.
fn proxy_pass(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let raw = cmd.arg(0);
    if proxy(b).pass.is_some() {
        return Err(cmd.duplicate());
    }
    let lower = raw.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") && !raw.starts_with('$') {
        return Err(cmd.error(format!("invalid URL prefix in \"{raw}\"")));
    }
    let url = b.template(cmd, raw)?;
    // (the default temp directory, made by the master for the workers)
    let default_temp = b.prefix.join("proxy_temp");
    if !b.temp_dirs.contains(&default_temp) {
        b.temp_dirs.push(default_temp);
    }
    let matcher = b.loc().matcher.clone();
    let has_uri = url
        .literal()
        .is_some_and(|u| split_url(u).is_some_and(|(_, uri)| uri.is_some()));
    let location = match &matcher {
        Some(Match::Regex { .. }) | Some(Match::Named(_)) if has_uri => {
            return Err(cmd.error(
                "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
            ));
        }
        Some(Match::Prefix(p)) | Some(Match::PrefixNoRegex(p)) | Some(Match::Exact(p)) => Some(p.clone()),
        _ => None,
    };
    proxy(b).pass = Some(Rc::new(ProxyPass {
        url,
        fixed: None,
        location,
        at: cmd.at.clone(),
    }));
    Ok(())
}

/// Whether a `proxy_pass` URL is `https://`.
pub fn is_https(url: &str) -> bool {
    url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// The port a URL's scheme implies.
pub fn default_port(url: &str) -> u16 {
    if is_https(url) { 443 } else { 80 }
}

/// `http[s]://host[:port][/uri]` (or `http://unix:/path:[/uri]`): the authority and the
/// URI part, if any.
pub fn split_url(url: &str) -> Option<(&str, Option<&str>)> {
    let skip = if is_https(url) { 8 } else { 7 };
    let rest = url
        .get(skip..)
        .filter(|_| skip == 8 || url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")))?;
    if let Some(unix) = rest.strip_prefix("unix:") {
        // the socket path ends at the next ':'
        return Some(match unix.find(':') {
            Some(i) => (&rest[..5 + i], Some(&unix[i + 1..]).filter(|u| !u.is_empty())),
            None => (rest, None),
        });
    }
    Some(match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    })
}

/// Makes a `proxy_pass` URL's target, resolving a name that is no upstream block's now.
pub fn target(upstreams: &Upstreams, url: &str, at: &conf::Location) -> Result<Target> {
    let fail = |msg: String| upstream::error_at(at, msg);
    let (authority, uri) = split_url(url).ok_or_else(|| fail(format!("invalid URL prefix in \"{url}\"")))?;
    if authority.is_empty() {
        return Err(fail(format!("no host in upstream \"{url}\"")));
    }
    let (default_port, tls) = (default_port(url), is_https(url));
    if let Some(up) = (!authority.contains(':')).then(|| upstreams.find(authority)).flatten() {
        return Ok(Target {
            host: authority.to_string(),
            port: default_port.to_string(),
            upstream: up,
            uri: uri.map(str::to_string),
            tls,
        });
    }
    let probe = Cmd {
        name: "proxy_pass".into(),
        args: Vec::new(),
        block: None,
        at: at.clone(),
    };
    let addrs = upstream::addresses(&probe, authority, default_port)?;
    let (host, port) = if authority.starts_with("unix:") {
        ("localhost".to_string(), String::new())
    } else {
        match upstream::split_host_port(authority) {
            Some((h, Some(p))) if p != default_port => (format!("{h}:{p}"), p.to_string()),
            Some((h, _)) => (h.to_string(), default_port.to_string()),
            None => return Err(fail(format!("invalid port in upstream \"{authority}\""))),
        }
    };
    Ok(Target {
        upstream: Rc::new(Upstream::implicit(authority.to_string(), addrs)),
        host,
        port,
        uri: uri.map(str::to_string),
        tls,
    })
}

fn set_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let value = b.template(cmd, cmd.arg(1))?;
    let c = proxy(b);
    let mut list = c.headers.as_deref().cloned().unwrap_or_default();
    list.push((cmd.arg(0).to_string(), value));
    c.headers = Some(Rc::new(list));
    Ok(())
}

fn http_version(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = match cmd.arg(0) {
        "1.0" => (1, 0),
        "1.1" => (1, 1),
        other => return Err(cmd.invalid_value(other, "")),
    };
    conf::registry::set_once(&mut proxy(b).http_version, v, cmd)
}

fn pass_request_headers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = conf::value::flag(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).pass_request_headers, on, cmd)
}

fn pass_request_body(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = conf::value::flag(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).pass_request_body, on, cmd)
}

fn set_body(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let t = b.template(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).set_body, t, cmd)
}

fn bind(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let transparent = match cmd.values().nth(1) {
        None => false,
        Some("transparent") => true,
        Some(other) => return Err(cmd.error(format!("invalid parameter \"{other}\""))),
    };
    let bind = if v == "off" {
        None
    } else {
        let t = b.template(cmd, v)?;
        let addr = match t.literal() {
            Some(text) => BindAddr::Fixed(
                upstream::parse_local(text).ok_or_else(|| cmd.error(format!("invalid address \"{text}\"")))?,
            ),
            None => BindAddr::Template(t),
        };
        Some(Rc::new(Bind { addr, transparent }))
    };
    conf::registry::set_once(&mut proxy(b).bind, bind, cmd)
}

fn method(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let t = b.template(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).method, t, cmd)
}

fn timeout(cmd: &Cmd) -> Result<u64> {
    conf::value::msec(cmd, cmd.arg(0))
}

fn connect_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let ms = timeout(cmd)?;
    conf::registry::set_once(&mut proxy(b).connect_timeout, ms, cmd)
}

fn send_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let ms = timeout(cmd)?;
    conf::registry::set_once(&mut proxy(b).send_timeout, ms, cmd)
}

fn read_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let ms = timeout(cmd)?;
    conf::registry::set_once(&mut proxy(b).read_timeout, ms, cmd)
}

fn buffer_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::size(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).buffer_size, n, cmd)
}

fn request_buffering(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = conf::value::flag(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).request_buffering, on, cmd)
}

fn buffering(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = conf::value::flag(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).buffering, on, cmd)
}

/// `proxy_buffers N size`.
fn buffers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    if n < 2 {
        return Err(cmd.error("there must be at least 2 \"proxy_buffers\""));
    }
    let size = conf::value::size(cmd, cmd.arg(1))?;
    conf::registry::set_once(&mut proxy(b).buffers, (n, size), cmd)
}

fn max_temp_file_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::size(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).max_temp_file_size, n, cmd)
}

/// `proxy_temp_path path [level1 [level2 [level3]]]`: files go in subdirectories named by
/// the last digits of their names, `level1` digits for the first, as nginx's.
fn temp_path(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut levels = Vec::new();
    for level in cmd.values().skip(1) {
        match level {
            "1" => levels.push(1),
            "2" => levels.push(2),
            _ => return Err(cmd.invalid_value(level, "")),
        }
    }
    let dir = b.prefix.join(cmd.arg(0));
    if !b.temp_dirs.contains(&dir) {
        b.temp_dirs.push(dir.clone());
    }
    conf::registry::set_once(&mut proxy(b).temp_path, Rc::new(TempPath { dir, levels }), cmd)
}

/// Where spooled answers go: a directory, and the levels of subdirectories under it.
#[derive(Clone, Debug, Default)]
pub struct TempPath {
    pub dir: std::path::PathBuf,
    pub levels: Vec<usize>,
}

impl TempPath {
    /// A temp file's path for its 10-digit name: `dir/7/45/0000012457` for levels 1 2.
    pub fn file(&self, name: &str) -> std::path::PathBuf {
        let mut path = self.dir.clone();
        let mut end = name.len();
        for &l in &self.levels {
            let start = end.saturating_sub(l);
            path.push(&name[start..end]);
            end = start;
        }
        path.push(name);
        path
    }
}

/// `proxy_busy_buffers_size`: checked against the other sizes (`check_sizes`); the
/// read-ahead here is `proxy_buffers`' alone.
fn busy_buffers_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::size(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).busy_buffers_size, n, cmd)
}

/// `proxy_temp_file_write_size`: checked as `proxy_busy_buffers_size` is.
fn temp_file_write_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::size(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).temp_file_write_size, n, cmd)
}

/// nginx's checks of a level's buffer sizes against each other, made where they meet
/// (on every merged level, one that proxies nothing too, as nginx's merge does).
fn check_sizes(conf: &ProxyConf) -> std::result::Result<(), String> {
    const AT_LEAST_ONE: &str = "must be equal to or greater than the maximum of the value of \"proxy_buffer_size\" and one of the \"proxy_buffers\"";
    let (n, size) = conf.buffer_count_size();
    let one = (conf.buffer_size() as u64).max(size);
    // (both default to twice that)
    let default = one.saturating_mul(2);
    let busy = conf.busy_buffers_size.unwrap_or(default);
    if busy < one {
        return Err(format!("\"proxy_busy_buffers_size\" {AT_LEAST_ONE}"));
    }
    if busy > n.saturating_sub(1).saturating_mul(size) {
        return Err(
            "\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer".into(),
        );
    }
    if conf.temp_file_write_size.unwrap_or(default) < one {
        return Err(format!("\"proxy_temp_file_write_size\" {AT_LEAST_ONE}"));
    }
    let max_temp = conf.max_temp_file();
    if max_temp != 0 && max_temp < one {
        return Err(format!(
            "\"proxy_max_temp_file_size\" must be equal to zero to disable temporary files usage or {AT_LEAST_ONE}"
        ));
    }
    Ok(())
}

fn push_name(list: &mut Option<Rc<Vec<String>>>, name: &str) {
    let mut v = list.as_deref().cloned().unwrap_or_default();
    v.push(name.to_ascii_lowercase());
    *list = Some(Rc::new(v));
}

fn hide_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    push_name(&mut proxy(b).hide_headers, cmd.arg(0));
    Ok(())
}

fn pass_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    push_name(&mut proxy(b).pass_headers, cmd.arg(0));
    Ok(())
}

fn next_upstream(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut n = NextUpstream {
        error: false,
        timeout: false,
        ..NextUpstream::default()
    };
    let words: Vec<&str> = cmd.values().collect();
    for w in &words {
        match *w {
            "error" => n.error = true,
            "timeout" => n.timeout = true,
            "invalid_header" => n.invalid_header = true,
            "non_idempotent" => n.non_idempotent = true,
            "off" if words.len() == 1 => {}
            other => match other.strip_prefix("http_").and_then(|c| c.parse::<u16>().ok()) {
                Some(code) if NEXT_STATUSES.contains(&code) => {
                    let i = NEXT_STATUSES.iter().position(|&s| s == code).unwrap_or(0);
                    n.statuses[i] = true;
                }
                _ => return Err(cmd.invalid_value(other, "")),
            },
        }
    }
    conf::registry::set_once(&mut proxy(b).next_upstream, n, cmd)
}

fn intercept_errors(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = conf::value::flag(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).intercept_errors, on, cmd)
}

fn ignore_client_abort(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = conf::value::flag(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).ignore_client_abort, on, cmd)
}

fn ignore_headers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut ignore = IgnoreHeaders::default();
    for name in cmd.values() {
        match name.to_ascii_lowercase().as_str() {
            "x-accel-redirect" => ignore.accel_redirect = true,
            "x-accel-limit-rate" => ignore.accel_limit_rate = true,
            "x-accel-buffering" => ignore.accel_buffering = true,
            "x-accel-expires" | "x-accel-charset" | "expires" | "cache-control" | "set-cookie" | "vary" => {}
            // (nginx's words for a bad bitmask value)
            _ => return Err(cmd.error(format!("invalid value \"{name}\""))),
        }
    }
    conf::registry::set_once(&mut proxy(b).ignore_headers, ignore, cmd)
}

fn next_upstream_tries(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    conf::registry::set_once(&mut proxy(b).next_upstream_tries, n, cmd)
}

fn next_upstream_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let ms = timeout(cmd)?;
    conf::registry::set_once(&mut proxy(b).next_upstream_timeout, ms, cmd)
}

/// A location with `proxy_pass` gets the proxy as its content handler (its target made
/// now, when the URL has no variables: every upstream block is known by then).
fn install(b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(conf) = d.ext.get::<ProxyConf>() else {
        return Ok(());
    };
    check_sizes(conf).map_err(|msg| match &d.at {
        Some(at) => upstream::error_at(at, msg),
        None => conf::ConfError::Other(msg),
    })?;
    let Some(pass) = &conf.pass else {
        return Ok(());
    };
    let mut pass = (**pass).clone();
    let upstreams = Rc::new(b.main.get::<Upstreams>().cloned().unwrap_or_default());
    if let Some(url) = pass.url.literal() {
        pass.fixed = Some(Rc::new(target(&upstreams, url, &pass.at)?));
    }
    let redirects = redirect::resolve(conf.redirects.as_ref(), pass.url.literal(), pass.location.as_deref());
    let temp_dir = match &conf.temp_path {
        Some(p) => (**p).clone(),
        None => TempPath {
            dir: b.prefix.join("proxy_temp"),
            levels: Vec::new(),
        },
    };
    let ssl = d.ext.get::<ssl::ProxySsl>().cloned().unwrap_or_default();
    ssl::check(&ssl).map_err(conf::ConfError::Other)?;
    t.content = Some(Rc::new(handler::Proxy::new(
        Rc::new(pass),
        conf.clone(),
        ssl,
        upstreams,
        redirects,
        temp_dir,
    )));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn buffer_sizes_are_checked_against_each_other_as_nginx_checks_them() {
        let conf = |buffers, busy, write, max_temp| super::ProxyConf {
            buffers,
            busy_buffers_size: busy,
            temp_file_write_size: write,
            max_temp_file_size: max_temp,
            ..Default::default()
        };
        let said = |c: super::ProxyConf| super::check_sizes(&c).err().unwrap_or_default();
        assert!(super::check_sizes(&conf(None, None, None, None)).is_ok());
        assert!(super::check_sizes(&conf(Some((64, 1 << 20)), None, None, Some(0))).is_ok());
        assert!(said(conf(Some((2, 4096)), None, None, None)).contains("minus one buffer"));
        assert!(said(conf(None, Some(1024), None, None)).starts_with("\"proxy_busy_buffers_size\" must be equal to"));
        assert!(
            said(conf(None, None, Some(1024), None)).starts_with("\"proxy_temp_file_write_size\" must be equal to")
        );
        assert!(
            said(conf(None, None, None, Some(1024))).starts_with("\"proxy_max_temp_file_size\" must be equal to zero")
        );
    }

    #[test]
    fn temp_files_go_under_their_levels() {
        let t = super::TempPath {
            dir: "/spool".into(),
            levels: vec![1, 2],
        };
        assert_eq!(t.file("0000012457"), std::path::PathBuf::from("/spool/7/45/0000012457"));
        let flat = super::TempPath {
            dir: "/spool".into(),
            levels: vec![],
        };
        assert_eq!(flat.file("0000012457"), std::path::PathBuf::from("/spool/0000012457"));
    }

    use super::split_url;

    #[test]
    fn url_parts() {
        assert_eq!(split_url("http://a:81/x/y"), Some(("a:81", Some("/x/y"))));
        assert_eq!(split_url("http://a"), Some(("a", None)));
        assert_eq!(split_url("HTTP://a/"), Some(("a", Some("/"))));
        assert_eq!(
            split_url("http://unix:/tmp/s.sock:/u"),
            Some(("unix:/tmp/s.sock", Some("/u")))
        );
        assert_eq!(split_url("http://unix:/tmp/s.sock"), Some(("unix:/tmp/s.sock", None)));
        assert_eq!(split_url("ftp://a"), None);
    }
}
