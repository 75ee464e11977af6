//! nginx's http core module (ngx_http_core_module): `server`, `location`, `listen`,
//! `server_name`, `root` / `alias`, `types`, `error_page`, `limit_except`, the
//! connection and body limits and timeouts. Its settings are `config::Settings` and
//! `ServerSettings`; it installs no handlers (the engine is the core).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use conf::registry::{HTTP, LIF, LMT, LOC, SRV};
use conf::{Args, Cmd, ConfError, Directive, Registry, Result, set_once, value};

use crate::builder::{HttpBuilder, LocDraft, ServerDraft, ServerDraftSettings, status_code};
use crate::config::*;
use crate::module::Module;

pub static MODULE: Module = Module::new("ngx_http_core_module", DIRECTIVES);

fn server(b: &mut HttpBuilder, cmd: &Cmd, reg: &Registry<HttpBuilder>) -> Result<()> {
    b.server = Some(ServerDraft::default());
    let level = b.read_block(cmd, SRV, reg, LocDraft::default())?;
    let sd = b.server.take().expect("set above");
    b.add_server(sd, level);
    Ok(())
}

fn location(b: &mut HttpBuilder, cmd: &Cmd, reg: &Registry<HttpBuilder>) -> Result<()> {
    let (modifier, pattern) = match cmd.args.len() {
        2 => (cmd.arg(0), cmd.arg(1)),
        _ => {
            let a = cmd.arg(0);
            match a {
                _ if a.starts_with("^~") && a.len() > 2 => ("^~", &a[2..]),
                _ if a.starts_with("~*") && a.len() > 2 => ("~*", &a[2..]),
                _ if a.starts_with('=') && a.len() > 1 => ("=", &a[1..]),
                _ if a.starts_with('~') && a.len() > 1 => ("~", &a[1..]),
                _ => ("", a),
            }
        }
    };
    let parent_is_named = matches!(b.loc().matcher, Some(Match::Named(_)));
    let parent_exact = matches!(b.loc().matcher, Some(Match::Exact(_)));
    if parent_is_named {
        return Err(cmd.error(format!("location \"{pattern}\" cannot be inside the named location")));
    }
    if parent_exact {
        return Err(cmd.error(format!("location \"{pattern}\" cannot be inside the exact location")));
    }
    let mut regex = |caseless: bool| -> Result<Match> {
        Ok(Match::Regex {
            source: pattern.to_string(),
            caseless,
            re: Arc::new(b.regex(cmd, pattern, caseless)?),
        })
    };
    let matcher = match modifier {
        "=" => Match::Exact(pattern.to_string()),
        "^~" => Match::PrefixNoRegex(pattern.to_string()),
        "~" => regex(false)?,
        "~*" => regex(true)?,
        "" if pattern.starts_with('@') => {
            if b.depth() != 2 {
                return Err(cmd.error(format!("named location \"{pattern}\" can be on the server level only")));
            }
            Match::Named(pattern.to_string())
        }
        "" => Match::Prefix(pattern.to_string()),
        m => return Err(cmd.error(format!("invalid location modifier \"{m}\""))),
    };
    let depth = b.depth();
    if let Some(Match::Prefix(parent) | Match::PrefixNoRegex(parent)) = &b.loc().matcher
        && depth > 2
        && let Match::Prefix(p) | Match::PrefixNoRegex(p) | Match::Exact(p) = &matcher
        && !p.starts_with(parent.as_str())
    {
        return Err(cmd.error(format!("location \"{p}\" is outside location \"{parent}\"")));
    }
    // (a prefix and a `^~` prefix of the same path are the same location to nginx)
    let key = |m: &Match| match m {
        Match::Exact(p) => Some((true, p.clone())),
        Match::Prefix(p) | Match::PrefixNoRegex(p) => Some((false, p.clone())),
        Match::Named(n) => Some((true, n.clone())),
        Match::Regex { .. } => None,
    };
    if let Some(k) = key(&matcher)
        && b.loc()
            .nested
            .iter()
            .any(|l| l.matcher.as_ref().and_then(key).as_ref() == Some(&k))
    {
        return Err(cmd.error(format!("duplicate location \"{pattern}\"")));
    }
    let draft = LocDraft {
        matcher: Some(matcher),
        ..Default::default()
    };
    let done = b.read_block(cmd, LOC, reg, draft)?;
    b.loc().nested.push(done);
    Ok(())
}

fn types(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    let mut map: HashMap<String, Arc<str>> = HashMap::new();
    for line in cmd.children() {
        if line.block.is_some() {
            return Err(ConfError::NotTerminated {
                name: line.name.clone(),
                at: line.at.clone(),
            });
        }
        for ext in line.values() {
            map.insert(ext.to_ascii_lowercase(), Arc::from(line.name.as_str()));
        }
    }
    set_once(&mut b.loc().settings.types, Arc::new(map), cmd)
}

/// `limit_except METHOD… { allow/deny/auth_basic… }` (location).
fn limit_except(b: &mut HttpBuilder, cmd: &Cmd, reg: &Registry<HttpBuilder>) -> Result<()> {
    const METHODS: &[&str] = &[
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "DELETE",
        "MKCOL",
        "COPY",
        "MOVE",
        "OPTIONS",
        "PROPFIND",
        "PROPPATCH",
        "LOCK",
        "UNLOCK",
        "PATCH",
    ];
    if b.loc().limit_except.is_some() {
        return Err(cmd.duplicate());
    }
    let mut methods = Vec::new();
    for m in cmd.values() {
        let m = m.to_ascii_uppercase();
        if !METHODS.contains(&m.as_str()) {
            return Err(cmd.error(format!("invalid method \"{m}\"")));
        }
        // GET lets HEAD through too
        if m == "GET" {
            methods.push("HEAD".to_string());
        }
        methods.push(m);
    }
    let draft = b.read_block(cmd, LMT, reg, LocDraft::default())?;
    b.loc().limit_except = Some((methods, Box::new(draft)));
    Ok(())
}

fn listen(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let spec = cmd.arg(0);
    let addr = if let Some(p) = spec.strip_prefix("unix:") {
        ListenAddr::Unix(PathBuf::from(p))
    } else if spec.bytes().all(|c| c.is_ascii_digit()) {
        let port: u16 = spec
            .parse()
            .map_err(|_| cmd.error(format!("invalid port in \"{spec}\" of the \"listen\" directive")))?;
        ListenAddr::Tcp(SocketAddr::from(([0, 0, 0, 0], port)))
    } else {
        let has_port = if spec.starts_with('[') {
            spec.contains("]:")
        } else {
            spec.contains(':')
        };
        let with_port = if has_port {
            spec.to_string()
        } else {
            format!("{spec}:80")
        };
        let with_port = with_port.replacen('*', "0.0.0.0", 1);
        let a = with_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .ok_or_else(|| cmd.error(format!("host not found in \"{spec}\" of the \"listen\" directive")))?;
        ListenAddr::Tcp(a)
    };
    let mut l = Listen {
        addr,
        default_server: false,
        reuseport: false,
        backlog: 511,
        ssl: false,
    };
    for opt in cmd.values().skip(1) {
        match opt {
            "default_server" | "default" => l.default_server = true,
            "ssl" => l.ssl = true,
            "reuseport" => l.reuseport = true,
            _ if opt.starts_with("backlog=") => {
                l.backlog = opt[8..]
                    .parse()
                    .map_err(|_| cmd.error(format!("invalid backlog \"{}\"", &opt[8..])))?;
            }
            // accepted for compatibility; see docs/compat.md
            "http2" | "proxy_protocol" | "deferred" | "bind" | "ipv6only=on" | "ipv6only=off" | "so_keepalive=on"
            | "so_keepalive=off" => {
                if opt == "http2" || opt == "proxy_protocol" {
                    return Err(cmd.error(format!("the \"{opt}\" parameter of \"listen\" is not supported yet")));
                }
            }
            _ if opt.starts_with("rcvbuf=") || opt.starts_with("sndbuf=") || opt.starts_with("fastopen=") => {}
            _ => return Err(cmd.error(format!("invalid parameter \"{opt}\""))),
        }
    }
    let sd = b.server.as_mut().expect("listen is SRV-only");
    sd.listens.push(l);
    Ok(())
}

fn server_name(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut names = Vec::new();
    for n in cmd.values() {
        let name = if let Some(re) = n.strip_prefix('~') {
            ServerName::Regex(n.to_string(), Arc::new(b.regex(cmd, re, true)?))
        } else if let Some(rest) = n.strip_prefix("*.") {
            ServerName::WildStart(format!(".{}", rest.to_ascii_lowercase()))
        } else if let Some(rest) = n.strip_suffix(".*") {
            ServerName::WildEnd(format!("{}.", rest.to_ascii_lowercase()))
        } else if let Some(rest) = n.strip_prefix('.') {
            ServerName::Dot(rest.to_ascii_lowercase())
        } else if n.contains('*') {
            return Err(cmd.error(format!("invalid server name or wildcard \"{n}\"")));
        } else {
            ServerName::Exact(n.to_ascii_lowercase())
        };
        names.push(name);
    }
    b.server.as_mut().expect("server_name is SRV-only").names.extend(names);
    Ok(())
}

fn srv_settings(b: &mut HttpBuilder) -> &mut ServerDraftSettings {
    match b.server.as_mut() {
        Some(s) => &mut s.settings,
        None => &mut b.http_srv,
    }
}

fn client_header_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::msec(cmd, cmd.arg(0))?;
    set_once(&mut srv_settings(b).client_header_timeout_ms, v, cmd)
}

fn client_header_buffer_size(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::size(cmd, cmd.arg(0))? as usize;
    set_once(&mut srv_settings(b).client_header_buffer_size, v, cmd)
}

fn large_client_header_buffers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = value::number(cmd, cmd.arg(0))? as usize;
    let size = value::size(cmd, cmd.arg(1))? as usize;
    if n == 0 || size == 0 {
        return Err(cmd.error(format!("invalid value \"{}\"", cmd.arg(0))));
    }
    set_once(&mut srv_settings(b).large_header_buffers, (n, size), cmd)
}

fn merge_slashes(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut srv_settings(b).merge_slashes, v, cmd)
}

/// `keepalive_disable none | msie6 | safari ...`
fn keepalive_disable(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let (mut msie6, mut safari) = (false, false);
    for v in cmd.values() {
        match v {
            "none" => {}
            "msie6" => msie6 = true,
            "safari" => safari = true,
            other => return Err(cmd.invalid_value(other, "")),
        }
    }
    set_once(&mut b.loc().settings.keepalive_disable, (msie6, safari), cmd)
}

/// `disable_symlinks off` (the other forms are not done: said at startup).
fn disable_symlinks(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    match cmd.arg(0) {
        "off" if cmd.args.len() == 1 => Ok(()),
        _ => Err(cmd.error(format!("\"disable_symlinks {}\" is not supported yet", cmd.arg(0)))),
    }
}

fn keepalive_timeout(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::msec(cmd, cmd.arg(0))?;
    let header = if cmd.args.len() == 2 {
        Some(value::sec(cmd, cmd.arg(1))?)
    } else {
        None
    };
    set_once(&mut b.loc().settings.keepalive_timeout_ms, v, cmd)?;
    b.loc().settings.keepalive_header_sec = Some(header);
    Ok(())
}

fn keepalive_requests(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::number(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().settings.keepalive_requests, v, cmd)
}

fn max_ranges(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::number(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().settings.max_ranges, Some(v), cmd)
}

fn lingering_close(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = match cmd.arg(0) {
        "on" => LingeringClose::On,
        "off" => LingeringClose::Off,
        "always" => LingeringClose::Always,
        v => return Err(cmd.invalid_value(v, "it must be \"off\", \"on\" or \"always\"")),
    };
    set_once(&mut b.loc().settings.lingering_close, v, cmd)
}

fn client_body_in_file_only(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = match cmd.arg(0) {
        "off" => BodyInFileOnly::Off,
        "on" => BodyInFileOnly::On,
        "clean" => BodyInFileOnly::Clean,
        v => return Err(cmd.invalid_value(v, "it must be \"on\", \"off\" or \"clean\"")),
    };
    set_once(&mut b.loc().settings.client_body_in_file_only, v, cmd)
}

fn satisfy(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let any = match cmd.arg(0) {
        "all" => false,
        "any" => true,
        v => return Err(cmd.invalid_value(v, "it must be \"all\" or \"any\"")),
    };
    set_once(&mut b.loc().settings.satisfy_any, any, cmd)
}

fn if_modified_since(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = match cmd.arg(0) {
        "off" => IfModifiedSince::Off,
        "exact" => IfModifiedSince::Exact,
        "before" => IfModifiedSince::Before,
        v => return Err(cmd.invalid_value(v, "it must be \"off\", \"exact\" or \"before\"")),
    };
    set_once(&mut b.loc().settings.if_modified_since, v, cmd)
}

fn client_body_temp_path(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    for level in cmd.values().skip(1) {
        value::number(cmd, level)?;
    }
    set_once(
        &mut b.loc().settings.client_body_temp_path,
        Arc::new(PathBuf::from(cmd.arg(0))),
        cmd,
    )
}

fn root(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if b.loc().alias.is_some() {
        return Err(cmd.error("\"root\" directive is duplicate, \"alias\" directive was specified earlier"));
    }
    let root = path_value(b, cmd)?;
    set_once(&mut b.loc().settings.root, root, cmd)
}

fn alias(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if b.loc().settings.root.is_some() {
        return Err(cmd.error("\"alias\" directive is duplicate, \"root\" directive was specified earlier"));
    }
    if matches!(b.loc().matcher, Some(Match::Named(_))) {
        return Err(cmd.error("\"alias\" directive cannot be used inside the named location".to_string()));
    }
    let alias = path_value(b, cmd)?;
    set_once(&mut b.loc().alias, alias, cmd)
}

/// A `root` or `alias` path; with variables, a template rendered per request.
fn path_value(b: &mut HttpBuilder, cmd: &Cmd) -> Result<PathValue> {
    let v = cmd.arg(0);
    Ok(if v.contains('$') {
        PathValue::with_variables(b.template(cmd, v)?)
    } else {
        PathValue::literal(v)
    })
}

fn default_type(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    set_once(&mut b.loc().settings.default_type, Arc::from(cmd.arg(0)), cmd)
}

fn internal(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if b.loc().internal {
        return Err(cmd.duplicate());
    }
    b.loc().internal = true;
    Ok(())
}

fn error_page(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let words: Vec<&str> = cmd.values().collect();
    let target = b.template(cmd, words[words.len() - 1])?;
    let mut overwrite = Overwrite::Keep;
    let mut codes = Vec::new();
    for w in &words[..words.len() - 1] {
        if let Some(o) = w.strip_prefix('=') {
            overwrite = if o.is_empty() {
                Overwrite::FromTarget
            } else {
                Overwrite::To(status_code(cmd, o)?)
            };
            continue;
        }
        let c: u16 = w.parse().map_err(|_| cmd.error(format!("invalid value \"{w}\"")))?;
        if !(300..=599).contains(&c) || c == 499 {
            return Err(cmd.error(format!("value \"{w}\" must be between 300 and 599")));
        }
        codes.push(c);
    }
    if codes.is_empty() {
        return Err(ConfError::Arity {
            name: cmd.name.clone(),
            at: cmd.at.clone(),
        });
    }
    let mut list = b
        .loc()
        .settings
        .error_pages
        .as_deref()
        .map(<[ErrorPage]>::to_vec)
        .unwrap_or_default();
    list.push(ErrorPage {
        codes,
        overwrite,
        target,
    });
    b.loc().settings.error_pages = Some(Arc::from(list));
    Ok(())
}

/// `error_log` inside http/server/location: validated; the main-level log is the one used.
fn error_log_nested(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if let Some(spec) = cmd.arg(0).strip_prefix("syslog:") {
        crate::syslog::Syslog::parse(spec).map_err(|m| cmd.error(m))?;
    }
    if let Some(l) = cmd.args.get(1)
        && crate::log::Level::parse(&l.value).is_none()
    {
        return Err(cmd.error(format!("invalid log level \"{}\"", l.value)));
    }
    Ok(())
}

/// Directives nginx has that change nothing here; accepted so configs load (docs/compat.md).
fn no_op(_b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    Ok(())
}

macro_rules! flag_setting {
    ($fn:ident, $field:ident) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let v = value::flag(cmd, cmd.arg(0))?;
            set_once(&mut b.loc().settings.$field, v, cmd)
        }
    };
}
macro_rules! msec_setting {
    ($fn:ident, $field:ident) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let v = value::msec(cmd, cmd.arg(0))?;
            set_once(&mut b.loc().settings.$field, v, cmd)
        }
    };
}
macro_rules! size_setting {
    ($fn:ident, $field:ident) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let v = value::size(cmd, cmd.arg(0))?;
            set_once(&mut b.loc().settings.$field, v, cmd)
        }
    };
}

flag_setting!(server_tokens, server_tokens);
flag_setting!(absolute_redirect, absolute_redirect);
flag_setting!(port_in_redirect, port_in_redirect);
flag_setting!(server_name_in_redirect, server_name_in_redirect);
flag_setting!(recursive_error_pages, recursive_error_pages);
flag_setting!(chunked_transfer_encoding, chunked_transfer_encoding);
flag_setting!(etag, etag);
flag_setting!(log_not_found, log_not_found);
flag_setting!(sendfile, sendfile);
flag_setting!(tcp_nodelay, tcp_nodelay);
flag_setting!(underscores_in_headers, underscores_in_headers);
flag_setting!(ignore_invalid_headers, ignore_invalid_headers);
flag_setting!(msie_padding, msie_padding);
msec_setting!(client_body_timeout, client_body_timeout_ms);
msec_setting!(send_timeout, send_timeout_ms);
msec_setting!(resolver_timeout, resolver_timeout_ms);

/// `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off] [status_zone=zone]`.
fn resolver(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let args: Vec<String> = cmd.values().map(String::from).collect();
    let c = crate::resolver::ResolverConf::parse(&args).map_err(|e| cmd.error(e))?;
    set_once(&mut b.loc().settings.resolver, Some(Arc::new(c)), cmd)
}
msec_setting!(auth_delay, auth_delay_ms);
msec_setting!(lingering_time, lingering_time_ms);
msec_setting!(lingering_timeout, lingering_timeout_ms);
size_setting!(client_max_body_size, client_max_body_size);
size_setting!(client_body_buffer_size, client_body_buffer_size);

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::block("server", HTTP, Args::Block(0, 0), server),
    Directive::block("location", SRV | LOC, Args::Block(1, 2), location),
    Directive::block("types", ANY_LOC, Args::Block(0, 0), types),
    Directive::block("limit_except", LOC, Args::Block(1, 14), limit_except),
    Directive::value("listen", SRV, Args::AtLeast(1), listen),
    Directive::value("server_name", SRV, Args::AtLeast(1), server_name),
    Directive::value(
        "client_header_timeout",
        HTTP | SRV,
        Args::Exactly(1),
        client_header_timeout,
    ),
    Directive::value(
        "client_header_buffer_size",
        HTTP | SRV,
        Args::Exactly(1),
        client_header_buffer_size,
    ),
    Directive::value(
        "large_client_header_buffers",
        HTTP | SRV,
        Args::Exactly(2),
        large_client_header_buffers,
    ),
    Directive::value("merge_slashes", HTTP | SRV, Args::Flag, merge_slashes),
    Directive::value("underscores_in_headers", HTTP | SRV, Args::Flag, underscores_in_headers),
    Directive::value("ignore_invalid_headers", HTTP | SRV, Args::Flag, ignore_invalid_headers),
    Directive::value("root", ANY_LOC | LIF, Args::Exactly(1), root),
    Directive::value("alias", LOC, Args::Exactly(1), alias),
    Directive::value("default_type", ANY_LOC, Args::Exactly(1), default_type),
    Directive::value("internal", LOC, Args::Exactly(0), internal),
    Directive::value("error_page", ANY_LOC | LIF, Args::AtLeast(2), error_page),
    Directive::value("satisfy", ANY_LOC, Args::Exactly(1), satisfy),
    Directive::value("error_log", ANY_LOC, Args::AtLeast(1), error_log_nested),
    Directive::value("server_tokens", ANY_LOC, Args::Flag, server_tokens),
    Directive::value("etag", ANY_LOC, Args::Flag, etag),
    Directive::value("log_not_found", ANY_LOC, Args::Flag, log_not_found),
    Directive::value("sendfile", ANY_LOC | LIF, Args::Flag, sendfile),
    Directive::value("tcp_nodelay", ANY_LOC, Args::Flag, tcp_nodelay),
    Directive::value("msie_padding", ANY_LOC, Args::Flag, msie_padding),
    Directive::value("keepalive_timeout", ANY_LOC, Args::Range(1, 2), keepalive_timeout),
    Directive::value("keepalive_requests", ANY_LOC, Args::Exactly(1), keepalive_requests),
    Directive::value("client_max_body_size", ANY_LOC, Args::Exactly(1), client_max_body_size),
    Directive::value("client_body_timeout", ANY_LOC, Args::Exactly(1), client_body_timeout),
    Directive::value(
        "client_body_buffer_size",
        ANY_LOC,
        Args::Exactly(1),
        client_body_buffer_size,
    ),
    Directive::value(
        "client_body_temp_path",
        ANY_LOC,
        Args::Range(1, 4),
        client_body_temp_path,
    ),
    Directive::value("send_timeout", ANY_LOC, Args::Exactly(1), send_timeout),
    Directive::value("resolver", ANY_LOC, Args::AtLeast(1), resolver),
    Directive::value("resolver_timeout", ANY_LOC, Args::Exactly(1), resolver_timeout),
    Directive::value("lingering_close", ANY_LOC, Args::Exactly(1), lingering_close),
    Directive::value("lingering_time", ANY_LOC, Args::Exactly(1), lingering_time),
    Directive::value("lingering_timeout", ANY_LOC, Args::Exactly(1), lingering_timeout),
    Directive::value("if_modified_since", ANY_LOC, Args::Exactly(1), if_modified_since),
    Directive::value(
        "client_body_in_file_only",
        ANY_LOC,
        Args::Exactly(1),
        client_body_in_file_only,
    ),
    Directive::value("max_ranges", ANY_LOC, Args::Exactly(1), max_ranges),
    Directive::value("absolute_redirect", ANY_LOC, Args::Flag, absolute_redirect),
    Directive::value("keepalive_disable", ANY_LOC, Args::AtLeast(1), keepalive_disable),
    Directive::value("auth_delay", ANY_LOC, Args::Exactly(1), auth_delay),
    Directive::value("disable_symlinks", ANY_LOC, Args::Range(1, 2), disable_symlinks),
    // (no subrequests are made: nothing to log or not)
    Directive::value("log_subrequest", ANY_LOC, Args::Flag, no_op),
    Directive::value("port_in_redirect", ANY_LOC, Args::Flag, port_in_redirect),
    Directive::value("server_name_in_redirect", ANY_LOC, Args::Flag, server_name_in_redirect),
    Directive::value("recursive_error_pages", ANY_LOC, Args::Flag, recursive_error_pages),
    Directive::value(
        "chunked_transfer_encoding",
        ANY_LOC,
        Args::Flag,
        chunked_transfer_encoding,
    ),
    // performance knobs of nginx's that change nothing a client sees here: files are
    // opened per request, output is written as it comes
    Directive::value("open_file_cache", ANY_LOC, Args::Range(1, 2), no_op),
    Directive::value("open_file_cache_valid", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("open_file_cache_min_uses", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("open_file_cache_errors", ANY_LOC, Args::Flag, no_op),
    Directive::value("postpone_output", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("output_buffers", ANY_LOC, Args::Exactly(2), no_op),
    Directive::value("send_lowat", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("read_ahead", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("directio", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("directio_alignment", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("aio", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("aio_write", ANY_LOC, Args::Flag, no_op),
    Directive::value("client_body_in_single_buffer", ANY_LOC, Args::Flag, no_op),
    Directive::value("tcp_nopush", ANY_LOC, Args::Flag, no_op),
    Directive::value("reset_timedout_connection", ANY_LOC, Args::Flag, no_op),
    Directive::value("fastcgi_temp_path", ANY_LOC, Args::Range(1, 4), no_op),
    Directive::value("scgi_temp_path", ANY_LOC, Args::Range(1, 4), no_op),
    Directive::value("uwsgi_temp_path", ANY_LOC, Args::Range(1, 4), no_op),
    Directive::value("server_names_hash_bucket_size", HTTP, Args::Exactly(1), no_op),
    Directive::value("server_names_hash_max_size", HTTP, Args::Exactly(1), no_op),
    Directive::value("types_hash_bucket_size", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("types_hash_max_size", ANY_LOC, Args::Exactly(1), no_op),
    Directive::value("variables_hash_bucket_size", HTTP, Args::Exactly(1), no_op),
    Directive::value("variables_hash_max_size", HTTP, Args::Exactly(1), no_op),
];
