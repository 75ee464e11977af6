//! nginx's gzip filter (ngx_http_gzip_filter_module): responses compressed as they stream
//! out, for clients that accept it. The header filter decides (status 200/403/404, no
//! Content-Encoding yet, a type of `gzip_types`, at least `gzip_min_length` when the
//! length is known, and the client: `Accept-Encoding: gzip` with q > 0, HTTP version,
//! `gzip_disable`, `gzip_proxied` for requests with `Via`); a compressed response loses its
//! Content-Length and Accept-Ranges, its ETag is weakened, and `gzip_vary` adds
//! `Vary: Accept-Encoding`. It runs after the other filters (Lua's body filters see the
//! plain body, as in nginx). Deflate is zlib-rs (through flate2): zlib's output, faster
//! than miniz_oxide (docs/benchmarks.md).
//!
//! The gunzip filter (ngx_http_gunzip_filter_module, `gunzip on`) is here too: a
//! gzip-encoded response (from an upstream) is decompressed for a client that does not
//! take gzip by the same rules. And gzip_static (ngx_http_gzip_static_module): a file's
//! `.gz` twin served as it is to a client that takes gzip (`always`: to every client).

use std::io::Write;
use std::rc::Rc;

use conf::registry::{HTTP, LIF, LOC, SRV};
use conf::{Args, Cmd, Directive, Result, set_once, value};
use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};

use crate::builder::{HttpBuilder, LocDraft};
use crate::module::{Module, Phases};
use crate::phase::{BodyFilter, Flow, Handler, HeaderFilter, Step};
use crate::request::Request;

const CTX: conf::Ctx = HTTP | SRV | LOC | LIF;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("gzip", CTX, Args::Flag, enable),
    Directive::value("gzip_types", HTTP | SRV | LOC, Args::AtLeast(1), types),
    Directive::value("gzip_min_length", HTTP | SRV | LOC, Args::Exactly(1), min_length),
    Directive::value("gzip_comp_level", HTTP | SRV | LOC, Args::Exactly(1), comp_level),
    Directive::value("gzip_vary", HTTP | SRV | LOC, Args::Flag, vary),
    Directive::value("gzip_proxied", HTTP | SRV | LOC, Args::AtLeast(1), proxied),
    Directive::value("gzip_http_version", HTTP | SRV | LOC, Args::Exactly(1), http_version),
    Directive::value("gzip_disable", HTTP | SRV | LOC, Args::AtLeast(1), disable),
    Directive::value("gzip_buffers", HTTP | SRV | LOC, Args::Exactly(2), buffers),
    Directive::value("gzip_window", HTTP | SRV | LOC, Args::Exactly(1), accepted_size),
    Directive::value("gzip_hash", HTTP | SRV | LOC, Args::Exactly(1), accepted_size),
];

pub static MODULE: Module = Module {
    install: Some(install),
    ..Module::new("ngx_http_gzip_filter_module", DIRECTIVES)
};

static GUNZIP_DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("gunzip", HTTP | SRV | LOC, Args::Flag, gunzip),
    Directive::value("gunzip_buffers", HTTP | SRV | LOC, Args::Exactly(2), buffers),
];

static GZIP_STATIC_DIRECTIVES: &[Directive<HttpBuilder>] = &[Directive::value(
    "gzip_static",
    HTTP | SRV | LOC,
    Args::Exactly(1),
    gzip_static,
)];

/// A content-phase handler: listed before the static module, whose files it may answer
/// for.
pub static GZIP_STATIC_MODULE: Module = Module {
    install: Some(install_static),
    ..Module::new("ngx_http_gzip_static_module", GZIP_STATIC_DIRECTIVES)
};

/// Runs before the gzip filter, as in nginx's chain.
pub static GUNZIP_MODULE: Module = Module {
    install: Some(install_gunzip),
    ..Module::new("ngx_http_gunzip_filter_module", GUNZIP_DIRECTIVES)
};

crate::settings! {
    pub struct GzipConf {
        enable: bool = false,
        /// Lowercase MIME types (text/html is always one); `*`: any.
        types: Rc<Vec<String>> = Rc::new(Vec::new()),
        min_length: u64 = 20,
        comp_level: u32 = 1,
        vary: bool = false,
        proxied: Proxied = Proxied::default(),
        http_version: (u8, u8) = (1, 1),
        disable: Rc<Vec<Disable>> = Rc::new(Vec::new()),
        gunzip: bool = false,
        /// `gzip_static`: off, on, or always.
        static_mode: StaticMode = StaticMode::Off,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaticMode {
    Off,
    On,
    Always,
}

/// `gzip_proxied`: which answers to requests that came through a proxy (`Via`) are
/// compressed. The default (`off`) compresses none of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Proxied {
    pub any: bool,
    pub expired: bool,
    pub no_cache: bool,
    pub no_store: bool,
    pub private: bool,
    pub no_last_modified: bool,
    pub no_etag: bool,
    pub auth: bool,
}

/// A `gzip_disable` item: a User-Agent regex, or `msie6`.
#[derive(Clone, Debug)]
pub enum Disable {
    Msie6,
    Regex(pcre2::bytes::Regex),
}

fn conf(b: &mut HttpBuilder) -> &mut GzipConf {
    b.loc().conf::<GzipConf>()
}

fn enable(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).enable, on, cmd)
}

fn types(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let list: Vec<String> = cmd.values().map(str::to_ascii_lowercase).collect();
    set_once(&mut conf(b).types, Rc::new(list), cmd)
}

fn min_length(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = value::size(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).min_length, n, cmd)
}

fn comp_level(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = value::number(cmd, cmd.arg(0))?;
    if !(1..=9).contains(&n) {
        return Err(cmd.error("value must be between 1 and 9"));
    }
    set_once(&mut conf(b).comp_level, n as u32, cmd)
}

fn vary(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).vary, on, cmd)
}

fn proxied(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut p = Proxied::default();
    for word in cmd.values() {
        match word {
            "off" => {}
            "any" => p.any = true,
            "expired" => p.expired = true,
            "no-cache" => p.no_cache = true,
            "no-store" => p.no_store = true,
            "private" => p.private = true,
            "no_last_modified" => p.no_last_modified = true,
            "no_etag" => p.no_etag = true,
            "auth" => p.auth = true,
            // (nginx's words for a bad bitmask value)
            other => return Err(cmd.error(format!("invalid value \"{other}\""))),
        }
    }
    set_once(&mut conf(b).proxied, p, cmd)
}

fn http_version(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = match cmd.arg(0) {
        "1.0" => (1, 0),
        "1.1" => (1, 1),
        other => return Err(cmd.invalid_value(other, "it must be \"1.0\" or \"1.1\"")),
    };
    set_once(&mut conf(b).http_version, v, cmd)
}

fn disable(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut list = Vec::new();
    for word in cmd.values() {
        if word == "msie6" {
            list.push(Disable::Msie6);
            continue;
        }
        let re = pcre2::bytes::RegexBuilder::new()
            .caseless(true)
            .jit_if_available(true)
            .build(word)
            .map_err(|e| cmd.error(format!("pcre2_compile() failed: {e} in \"{word}\"")))?;
        list.push(Disable::Regex(re));
    }
    set_once(&mut conf(b).disable, Rc::new(list), cmd)
}

fn gzip_static(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mode = match cmd.arg(0) {
        "off" => StaticMode::Off,
        "on" => StaticMode::On,
        "always" => StaticMode::Always,
        other => return Err(cmd.invalid_value(other, "it must be \"on\", \"off\" or \"always\"")),
    };
    set_once(&mut conf(b).static_mode, mode, cmd)
}

fn gunzip(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let on = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut conf(b).gunzip, on, cmd)
}

/// `gzip_buffers N size`: checked; output is sized by what the compressor makes.
fn buffers(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    value::number(cmd, cmd.arg(0))?;
    value::size(cmd, cmd.arg(1)).map(|_| ())
}

/// `gzip_window`, `gzip_hash`: checked; zlib-rs's defaults (nginx's too) are used.
fn accepted_size(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    value::size(cmd, cmd.arg(0)).map(|_| ())
}

fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(conf) = d.ext.get::<GzipConf>() else {
        return Ok(());
    };
    if conf.enable() {
        t.header_filters.push(Rc::new(GzipHeader(conf.clone())));
        t.body_filters.push(Rc::new(GzipBody));
    }
    Ok(())
}

fn install_gunzip(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(conf) = d.ext.get::<GzipConf>() else {
        return Ok(());
    };
    if conf.gunzip() {
        t.header_filters.push(Rc::new(GunzipHeader(conf.clone())));
        t.body_filters.push(Rc::new(GunzipBody));
    }
    Ok(())
}

fn install_static(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(conf) = d.ext.get::<GzipConf>() else {
        return Ok(());
    };
    if conf.static_mode() != StaticMode::Off {
        t.content_phase.push(Rc::new(GzipStatic(conf.clone())));
    }
    Ok(())
}

/// Serves `FILE.gz` for `FILE` when the client takes it.
struct GzipStatic(GzipConf);

impl Handler for GzipStatic {
    fn handle<'a>(&'a self, r: &'a mut Request) -> Step<'a> {
        if r.uri.ends_with('/') || !matches!(&*r.method, "GET" | "HEAD") {
            return Step::Ready(Flow::Next);
        }
        Step::Pending(Box::pin(self.serve(r)))
    }
}

impl GzipStatic {
    async fn serve(&self, r: &mut Request) -> Flow {
        let c = &self.0;
        let takes = c.static_mode() == StaticMode::Always || client_takes_gzip(r, c);
        if !takes && !c.vary() {
            return Flow::Next;
        }
        let path = crate::files::map_uri(r, &r.uri);
        let mut gz = path.clone().into_os_string();
        gz.push(".gz");
        let gz = std::path::PathBuf::from(gz);
        let opened = std::fs::File::open(&gz).and_then(|f| f.metadata().map(|m| (f, m)));
        let (file, meta) = match opened {
            Ok(x) => x,
            Err(e) => {
                // (a missing twin is the common case: the static module answers)
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) {
                    r.log(
                        crate::log::Level::Error,
                        &format!("open() \"{}\" failed ({})", gz.display(), conf::errno_text(&e)),
                    );
                }
                return Flow::Next;
            }
        };
        if c.static_mode() == StaticMode::On {
            add_vary(r, c);
        }
        if !takes || meta.is_dir() {
            return Flow::Next;
        }
        r.headers_out.add("Content-Encoding", "gzip");
        crate::modules::static_file::respond(r, file, &meta, &gz, &path).await
    }
}

/// Decides, per response, whether a gzip-encoded body is decompressed for the client.
struct GunzipHeader(GzipConf);

/// The decompressor of a response being decompressed.
struct Inflating(GzDecoder<Vec<u8>>);

impl HeaderFilter for GunzipHeader {
    fn filter(&self, r: &mut Request) {
        let gzipped = r
            .headers_out
            .get("content-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        if !gzipped || r.is_head() || r.capture.is_some() {
            return;
        }
        add_vary(r, &self.0);
        if client_takes_gzip(r, &self.0) {
            return;
        }
        r.headers_out.remove("content-encoding");
        r.content_length = None;
        r.headers_out.remove("accept-ranges");
        weaken_etag(r);
        r.set_ctx(Inflating(GzDecoder::new(Vec::new())));
    }
}

/// Decompresses the body of a response the header filter chose; a body that is not
/// gzip is logged as nginx logs a failed inflate and cut short.
struct GunzipBody;

impl BodyFilter for GunzipBody {
    fn active(&self, r: &Request) -> bool {
        r.ctx_ref::<Inflating>().is_some()
    }

    fn filter(&self, r: &mut Request, chunk: &mut Vec<u8>, eof: &mut bool) {
        let Some(Inflating(decoder)) = r.ctx::<Inflating>() else {
            return;
        };
        let mut failed = decoder.write_all(chunk).err();
        if *eof && failed.is_none() {
            failed = decoder.try_finish().err();
        }
        *chunk = std::mem::take(decoder.get_mut());
        if let Some(e) = failed {
            r.log(crate::log::Level::Error, &format!("inflate() failed: {e}"));
            // the rest cannot be read: what was made goes, then the connection closes
            // without the body's end (nothing more is written)
            *eof = false;
            r.keepalive = false;
            r.eof_sent = true;
        }
    }
}

/// Decides, per response, whether it is compressed.
struct GzipHeader(GzipConf);

/// The compressor of a response being compressed.
struct Deflating(GzEncoder<Vec<u8>>);

impl HeaderFilter for GzipHeader {
    fn filter(&self, r: &mut Request) {
        let c = &self.0;
        let eligible = matches!(r.status, 200 | 403 | 404)
            && r.headers_out.get("content-encoding").is_none_or(str::is_empty)
            && r.content_length.is_none_or(|n| n >= c.min_length())
            && type_listed(r.content_type.as_deref(), &c.types())
            && !r.header_only
            && !r.is_head()
            && r.capture.is_none();
        if !eligible {
            return;
        }
        add_vary(r, c);
        if !client_takes_gzip(r, c) {
            return;
        }
        r.content_length = None;
        r.headers_out.remove("accept-ranges");
        weaken_etag(r);
        r.headers_out.add("Content-Encoding", "gzip");
        let encoder = flate2::GzBuilder::new()
            .operating_system(3)
            .write(Vec::new(), Compression::new(c.comp_level()));
        r.set_ctx(Deflating(encoder));
    }
}

/// Compresses the body of a response the header filter chose.
struct GzipBody;

impl BodyFilter for GzipBody {
    fn active(&self, r: &Request) -> bool {
        r.ctx_ref::<Deflating>().is_some()
    }

    fn filter(&self, r: &mut Request, chunk: &mut Vec<u8>, eof: &mut bool) {
        let flushing = r.flushing;
        let Some(Deflating(encoder)) = r.ctx::<Deflating>() else {
            return;
        };
        // (writes to a Vec cannot fail; the compressor's state is ours alone)
        let _ = encoder.write_all(chunk);
        if *eof {
            let _ = encoder.try_finish();
        } else if flushing {
            // an explicit flush: what was written so far goes out now (a sync flush)
            let _ = encoder.flush();
        }
        // what the compressor made so far goes on, the rest waits for more input
        *chunk = std::mem::take(encoder.get_mut());
    }
}

/// `gzip_vary on`: `Vary: Accept-Encoding`, once.
fn add_vary(r: &mut Request, c: &GzipConf) {
    let present = r
        .headers_out
        .list
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("vary") && v == "Accept-Encoding");
    if c.vary() && !present {
        r.headers_out.add("Vary", "Accept-Encoding");
    }
}

/// `gzip_types` (text/html always; `*`: any type) against the response's type.
fn type_listed(content_type: Option<&str>, types: &[String]) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or_default().trim();
    mime.eq_ignore_ascii_case("text/html") || types.iter().any(|t| t == "*" || t.eq_ignore_ascii_case(mime))
}

/// nginx's gzip_ok: the client accepts gzip, and nothing in the configuration refuses it
/// this response.
fn client_takes_gzip(r: &Request, c: &GzipConf) -> bool {
    if !r.headers_in.get_all("accept-encoding").any(accepts_gzip) {
        return false;
    }
    if r.version < c.http_version() {
        return false;
    }
    if r.headers_in.get("via").is_some() && !proxied_ok(r, &c.proxied()) {
        return false;
    }
    let ua = r.headers_in.get("user-agent").unwrap_or_default();
    !c.disable().iter().any(|d| match d {
        Disable::Msie6 => crate::output::is_msie6(ua),
        Disable::Regex(re) => re.is_match(ua.as_bytes()).unwrap_or(false),
    })
}

/// `gzip` among the codings, with a q-value above 0 ("gzip;q=0" refuses it).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or_default().trim();
        if !name.eq_ignore_ascii_case("gzip") {
            return false;
        }
        parts.all(|param| {
            let param = param.trim();
            match param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")) {
                Some(q) => q.trim().parse::<f32>().is_ok_and(|q| q > 0.0 && q <= 1.0),
                None => true,
            }
        })
    })
}

/// gzip_proxied for a request that came through a proxy.
fn proxied_ok(r: &Request, p: &Proxied) -> bool {
    if p.any {
        return true;
    }
    if p.auth && r.headers_in.get("authorization").is_some() {
        return true;
    }
    if let Some(expires) = r.headers_out.get("expires") {
        if !p.expired {
            return false;
        }
        let date = r
            .headers_out
            .get("date")
            .and_then(crate::time::parse_http_date)
            .unwrap_or_else(std::time::SystemTime::now);
        return crate::time::parse_http_date(expires).is_some_and(|e| e < date);
    }
    let cache_control: Vec<&str> = r.headers_out.get_all("cache-control").collect();
    if !cache_control.is_empty() {
        let has = |word: &str| {
            cache_control
                .iter()
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(word))
        };
        return (p.no_cache && has("no-cache")) || (p.no_store && has("no-store")) || (p.private && has("private"));
    }
    if p.no_last_modified && r.headers_out.get("last-modified").is_some() {
        return false;
    }
    if p.no_etag && r.headers_out.get("etag").is_some() {
        return false;
    }
    p.expired || p.no_cache || p.no_store || p.private || p.no_last_modified || p.no_etag || p.auth
}

/// nginx's weak_etag: a strong ETag becomes weak (`W/"…"`), one that is not a quoted
/// string is dropped.
fn weaken_etag(r: &mut Request) {
    let Some(etag) = r.headers_out.get("etag").map(str::to_string) else {
        return;
    };
    r.headers_out.remove("etag");
    if etag.starts_with("W/") {
        r.headers_out.add("ETag", etag);
    } else if etag.starts_with('"') {
        r.headers_out.add("ETag", format!("W/{etag}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_as_nginx_reads_it() {
        assert!(accepts_gzip("gzip, deflate"));
        assert!(accepts_gzip("deflate, GZIP;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.000"));
        assert!(!accepts_gzip("x-gzip, deflate"));
        assert!(!accepts_gzip("br"));
    }

    #[test]
    fn types_match_without_parameters() {
        let types = vec!["application/json".to_string()];
        assert!(type_listed(Some("text/html; charset=utf-8"), &[]));
        assert!(type_listed(Some("Application/JSON"), &types));
        assert!(!type_listed(Some("image/png"), &types));
        assert!(type_listed(Some("image/png"), &["*".to_string()]));
        assert!(!type_listed(None, &types));
    }
}
