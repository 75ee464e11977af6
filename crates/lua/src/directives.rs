//! The `*_by_lua*` directives: each stores its code in the location's Lua settings; the
//! installer turns them into phase handlers.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use conf::registry::{HTTP, LIF, LOC, SIF, SRV, UPS};
use conf::{Args, Cmd, Directive, Result, set_once};
use http::builder::{HttpBuilder, LocDraft};
use http::ext::ExtConf;
use http::module::{Module, Phases};

use crate::filter::SyncHandler;
use crate::handler::{HandlerOptions, LuaHandler};
use crate::request::Phase;

/// Where a handler's code comes from.
#[derive(Debug)]
pub enum Source {
    Inline(String),
    File(PathBuf),
    /// A `*_by_lua_file` path with nginx variables, rendered for each request (relative
    /// paths against the prefix).
    FileTemplate {
        path: http::template::Template,
        prefix: PathBuf,
    },
}

/// One `*_by_lua*` directive's code, compiled once (on first use) and shared by every
/// location that inherits it.
#[derive(Debug)]
pub struct LuaCode {
    pub source: Source,
    /// `content_by_lua(nginx.conf:12)`, as OpenResty names chunks.
    pub chunkname: String,
    pub compiled: OnceCell<std::result::Result<mlua::Function, crate::handler::LoadError>>,
    /// For a [`Source::FileTemplate`]: each file it rendered to, compiled.
    pub by_path: RefCell<HashMap<PathBuf, mlua::Function>>,
}

/// The Lua settings of one level (http, server, location).
#[derive(Clone, Default)]
pub struct LuaLocConf {
    /// `server_rewrite_by_lua*` (http and server levels).
    pub server_rewrite: Option<Rc<LuaCode>>,
    pub rewrite: Option<Rc<LuaCode>>,
    pub access: Option<Rc<LuaCode>>,
    pub content: Option<Rc<LuaCode>>,
    pub header_filter: Option<Rc<LuaCode>>,
    pub body_filter: Option<Rc<LuaCode>>,
    pub log: Option<Rc<LuaCode>>,
    pub code_cache: Option<bool>,
    pub need_request_body: Option<bool>,
    pub rewrite_no_postpone: Option<bool>,
    pub access_no_postpone: Option<bool>,
    pub transform_underscores: Option<bool>,
    pub use_default_type: Option<bool>,
    pub http10_buffering: Option<bool>,
    pub check_client_abort: Option<bool>,
}

impl LuaLocConf {
    /// The switches a phase handler of this location obeys.
    pub fn handler_options(&self) -> HandlerOptions {
        HandlerOptions {
            need_body: self.need_request_body(),
            code_cache: self.code_cache(),
            http10_buffering: self.http10_buffering(),
            check_client_abort: self.check_client_abort(),
        }
    }
    pub fn code_cache(&self) -> bool {
        self.code_cache.unwrap_or(true)
    }
    pub fn need_request_body(&self) -> bool {
        self.need_request_body.unwrap_or(false)
    }
    pub fn transform_underscores(&self) -> bool {
        self.transform_underscores.unwrap_or(true)
    }
    pub fn use_default_type(&self) -> bool {
        self.use_default_type.unwrap_or(true)
    }
    pub fn http10_buffering(&self) -> bool {
        self.http10_buffering.unwrap_or(true)
    }
    pub fn check_client_abort(&self) -> bool {
        self.check_client_abort.unwrap_or(false)
    }
}

/// lua_use_default_type of the request's location.
pub fn use_default_type(r: &http::request::Request) -> bool {
    r.loc.ext.get::<LuaLocConf>().is_none_or(|c| c.use_default_type())
}

/// A response header name as Lua wrote it, `_` read as `-` unless
/// lua_transform_underscores_in_response_headers is off.
pub fn response_header_name<'a>(r: &http::request::Request, name: &'a str) -> std::borrow::Cow<'a, str> {
    if name.contains('_') && r.loc.ext.get::<LuaLocConf>().is_none_or(|c| c.transform_underscores()) {
        std::borrow::Cow::Owned(name.replace('_', "-"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

impl ExtConf for LuaLocConf {
    fn merge(&mut self, parent: &Self) {
        if self.server_rewrite.is_none() {
            self.server_rewrite = parent.server_rewrite.clone();
        }
        if self.rewrite.is_none() {
            self.rewrite = parent.rewrite.clone();
        }
        if self.access.is_none() {
            self.access = parent.access.clone();
        }
        if self.header_filter.is_none() {
            self.header_filter = parent.header_filter.clone();
        }
        if self.body_filter.is_none() {
            self.body_filter = parent.body_filter.clone();
        }
        if self.log.is_none() {
            self.log = parent.log.clone();
        }
        let flags = [
            (&mut self.code_cache, parent.code_cache),
            (&mut self.need_request_body, parent.need_request_body),
            (&mut self.rewrite_no_postpone, parent.rewrite_no_postpone),
            (&mut self.access_no_postpone, parent.access_no_postpone),
            (&mut self.transform_underscores, parent.transform_underscores),
            (&mut self.use_default_type, parent.use_default_type),
            (&mut self.http10_buffering, parent.http10_buffering),
            (&mut self.check_client_abort, parent.check_client_abort),
        ];
        for (mine, theirs) in flags {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        // a content handler belongs to its own location only
    }
}

pub(crate) fn code(b: &mut HttpBuilder, cmd: &Cmd, tag: &str, file: bool) -> Result<Rc<LuaCode>> {
    let conf_file = cmd
        .at
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    // the init phases have no request to take variables from
    let per_request = !tag.starts_with("init") && !tag.starts_with("exit") && !tag.starts_with("ssl");
    let (source, chunkname) = if file && per_request && cmd.arg(0).contains('$') {
        let path = b.template(cmd, cmd.arg(0))?;
        let prefix = b.prefix.clone();
        (Source::FileTemplate { path, prefix }, String::new())
    } else if file {
        let path = b.prefix.join(cmd.arg(0));
        let name = format!("@{}", path.display());
        (Source::File(path), name)
    } else {
        (
            Source::Inline(cmd.arg(0).to_string()),
            format!("={tag}({conf_file}:{})", cmd.at.line),
        )
    };
    Ok(Rc::new(LuaCode {
        source,
        chunkname,
        compiled: OnceCell::new(),
        by_path: RefCell::new(HashMap::new()),
    }))
}

macro_rules! lua_directive {
    ($fn:ident, $field:ident, $tag:literal, $file:expr) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let c = code(b, cmd, $tag, $file)?;
            set_once(&mut b.loc().ext.get_or_default::<LuaLocConf>().$field, c, cmd)
        }
    };
}

lua_directive!(content_inline, content, "content_by_lua", false);
lua_directive!(content_file, content, "content_by_lua", true);
lua_directive!(server_rewrite_inline, server_rewrite, "server_rewrite_by_lua", false);
lua_directive!(server_rewrite_file, server_rewrite, "server_rewrite_by_lua", true);
lua_directive!(rewrite_inline, rewrite, "rewrite_by_lua", false);
lua_directive!(rewrite_file, rewrite, "rewrite_by_lua", true);
lua_directive!(access_inline, access, "access_by_lua", false);
lua_directive!(access_file, access, "access_by_lua", true);
lua_directive!(header_filter_inline, header_filter, "header_filter_by_lua", false);
lua_directive!(header_filter_file, header_filter, "header_filter_by_lua", true);
lua_directive!(body_filter_inline, body_filter, "body_filter_by_lua", false);
lua_directive!(body_filter_file, body_filter, "body_filter_by_lua", true);
lua_directive!(log_inline, log, "log_by_lua", false);
lua_directive!(log_file, log, "log_by_lua", true);

/// `init_by_lua*` and `init_worker_by_lua*` belong to the configuration's generation.
macro_rules! init_directive {
    ($fn:ident, $field:ident, $tag:literal, $file:expr) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let c = code(b, cmd, $tag, $file)?;
            crate::vm::with_building(|g| set_once(&mut g.$field, c, cmd))
        }
    };
}

init_directive!(init_inline, init, "init_by_lua", false);
init_directive!(init_file, init, "init_by_lua", true);
init_directive!(init_worker_inline, init_worker, "init_worker_by_lua", false);
init_directive!(init_worker_file, init_worker, "init_worker_by_lua", true);
init_directive!(exit_worker_inline, exit_worker, "exit_worker_by_lua", false);
init_directive!(exit_worker_file, exit_worker, "exit_worker_by_lua", true);

/// `lua_package_path` / `lua_package_cpath`: `;;` is LuaJIT's default (which honours
/// LUA_PATH / LUA_CPATH), `$prefix` the server prefix.
fn package_path(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let field = if cmd.name == "lua_package_path" {
        "path"
    } else {
        "cpath"
    };
    let lua = crate::vm::current();
    let set = || -> mlua::Result<()> {
        let package: mlua::Table = lua.globals().get("package")?;
        let default: String = package.get(field)?;
        let prefix = b.prefix.display().to_string();
        let prefix = prefix.trim_end_matches('/');
        let value = cmd
            .arg(0)
            .replace("$prefix", prefix)
            .replace("${prefix}", prefix)
            .replace(";;", &format!(";{default};"));
        package.set(field, value)
    };
    set().map_err(|e| cmd.error(format!("failed to set package.{field}: {e}")))
}

macro_rules! lua_flag {
    ($fn:ident, $field:ident) => {
        fn $fn(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
            let v = conf::value::flag(cmd, cmd.arg(0))?;
            set_once(&mut b.loc().ext.get_or_default::<LuaLocConf>().$field, v, cmd)
        }
    };
}

lua_flag!(need_request_body, need_request_body);
lua_flag!(rewrite_no_postpone, rewrite_no_postpone);
lua_flag!(access_no_postpone, access_no_postpone);
lua_flag!(transform_underscores_flag, transform_underscores);
lua_flag!(use_default_type_flag, use_default_type);
lua_flag!(http10_buffering, http10_buffering);
lua_flag!(check_client_abort, check_client_abort);

/// `lua_code_cache off` re-reads Lua files for every request; nginx warns about it.
fn code_cache(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = conf::value::flag(cmd, cmd.arg(0))?;
    if !v {
        http::elog!(
            http::log::Level::Alert,
            0,
            "lua_code_cache is off; this will hurt performance in {}",
            cmd.at
        );
    }
    set_once(&mut b.loc().ext.get_or_default::<LuaLocConf>().code_cache, v, cmd)
}

/// `set_by_lua $res 'code' [$arg ...]`, `set_by_lua_block $res { code }`,
/// `set_by_lua_file $res path [$arg ...]`: a step of the rewrite script.
fn set_by_lua(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let file = cmd.name == "set_by_lua_file";
    if cmd.name == "set_by_lua_block" && cmd.args.len() != 2 {
        return Err(conf::ConfError::Arity {
            name: cmd.name.clone(),
            at: cmd.at.clone(),
        });
    }
    let var = b.declare_var(cmd, cmd.arg(0))?;
    let code_cmd = Cmd {
        args: cmd.args[1..2].to_vec(),
        ..cmd.clone()
    };
    let code = code(b, &code_cmd, "set_by_lua", file)?;
    let mut args = Vec::new();
    for a in cmd.values().skip(2) {
        args.push(b.template(cmd, a)?);
    }
    // (lua_code_cache is read per request: it may come later in the block)
    let handler = SyncHandler::new(crate::vm::current(), code, Phase::Set, true);
    let f: Rc<dyn http::modules::rewrite::ScriptCall> = Rc::new(crate::filter::SetHandler(handler));
    http::modules::rewrite::push(b, http::modules::rewrite::ScriptOp::Call { var, args, f });
    Ok(())
}

/// `lua_thread_cache_max_entries N`: how many idle entry threads a worker keeps for
/// reuse (0: none).
fn thread_cache(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    crate::runners::Runners::of(&crate::vm::current()).set_keep(n);
    Ok(())
}

/// `lua_socket_*`: the cosockets' timeouts, buffer, pools and error logging.
fn socket_setting(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    use crate::api::socket_tcp::SocketConf;
    let c = b.loc().ext.get_or_default::<SocketConf>();
    let v = cmd.arg(0);
    match cmd.name.as_str() {
        "lua_socket_connect_timeout" => set_once(&mut c.connect_timeout, conf::value::msec(cmd, v)?, cmd),
        "lua_socket_send_timeout" => set_once(&mut c.send_timeout, conf::value::msec(cmd, v)?, cmd),
        "lua_socket_read_timeout" => set_once(&mut c.read_timeout, conf::value::msec(cmd, v)?, cmd),
        "lua_socket_keepalive_timeout" => set_once(&mut c.keepalive_timeout, conf::value::msec(cmd, v)?, cmd),
        "lua_socket_buffer_size" => set_once(&mut c.buffer_size, conf::value::size(cmd, v)?, cmd),
        "lua_socket_pool_size" => set_once(&mut c.pool_size, conf::value::number(cmd, v)?, cmd),
        "lua_socket_log_errors" => set_once(&mut c.log_errors, conf::value::flag(cmd, v)?, cmd),
        // lua_socket_send_lowat: checked; writes go out as the kernel takes them
        _ => conf::value::size(cmd, v).map(|_| ()),
    }
}

/// `lua_ssl_*`: what cosockets' `sslhandshake` verifies with and offers.
fn ssl_setting(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    use crate::api::socket_tcp::SocketConf;
    let v = cmd.arg(0);
    let file = b.conf_file(v);
    let c = b.loc().ext.get_or_default::<SocketConf>();
    match cmd.name.as_str() {
        "lua_ssl_trusted_certificate" => set_once(&mut c.ssl_trusted_certificate, file, cmd),
        "lua_ssl_certificate" => set_once(&mut c.ssl_certificate, file, cmd),
        "lua_ssl_certificate_key" => set_once(&mut c.ssl_certificate_key, file, cmd),
        "lua_ssl_verify_depth" => set_once(&mut c.ssl_verify_depth, conf::value::number(cmd, v)? as u32, cmd),
        "lua_ssl_ciphers" => set_once(&mut c.ssl_ciphers, v.to_string(), cmd),
        "lua_ssl_crl" => set_once(&mut c.ssl_crl, file, cmd),
        "lua_ssl_conf_command" => {
            let line = (v.to_string(), cmd.arg(1).to_string());
            c.ssl_conf_commands.get_or_insert_with(Vec::new).push(line);
            Ok(())
        }
        "lua_ssl_protocols" => {
            let bits = http::tls::protocol_bits(cmd.values()).map_err(|m| cmd.error(m))?;
            set_once(&mut c.ssl_protocols, bits, cmd)
        }
        _ => Err(cmd.error(format!("\"{}\" is not supported yet", cmd.name))),
    }
}

/// `lua_max_pending_timers N` / `lua_max_running_timers N`: the worker's timer limits.
fn max_timers(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    let timers = crate::api::Timers::of(&crate::vm::current());
    if cmd.name == "lua_max_pending_timers" {
        timers.set_max_pending(n);
    } else {
        timers.set_max_running(n);
    }
    Ok(())
}

/// Directives of OpenResty's that tune what oxiresty does its own way: checked, then
/// without effect (`lua_load_resty_core`: its API is built in; `lua_sa_restart`: the
/// workers' signal handlers are installed with SA_RESTART, the directive's default;
/// `lua_malloc_trim`: mimalloc gives freed memory back by itself, where glibc needed a
/// nudge).
fn accepted_flag(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    conf::value::flag(cmd, cmd.arg(0)).map(|_| ())
}

/// `lua_shared_dict NAME SIZE`: a dictionary in shared memory (api/shdict.rs).
fn shared_dict(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let (name, size) = (cmd.arg(0), cmd.arg(1));
    if name.is_empty() {
        return Err(cmd.error(format!("invalid lua shared dict name \"{name}\"")));
    }
    let Some(bytes) = conf::value::parse_size(size)
        .filter(|&s| s > 8191)
        .and_then(|s| usize::try_from(s).ok())
    else {
        return Err(cmd.error(format!("invalid lua shared dict size \"{size}\"")));
    };
    crate::api::shdict::declare(&crate::vm::current(), name, bytes).map_err(|e| cmd.error(e))
}

/// `lua_regex_cache_max_entries N`: compiled regexes the `o` option keeps.
fn regex_cache_max_entries(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    let private: mlua::Table = crate::vm::current()
        .globals()
        .get("__oxr")
        .map_err(|e| cmd.error(e.to_string()))?;
    private.set("regex_cache_max", n).map_err(|e| cmd.error(e.to_string()))
}

/// `lua_regex_match_limit N`: PCRE2's match limit for ngx.re (0: its default).
fn regex_match_limit(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let n = conf::value::number(cmd, cmd.arg(0))?;
    crate::api::regex::set_match_limit(u32::try_from(n).unwrap_or(u32::MAX));
    Ok(())
}

/// `lua_capture_error_log size`: error-log lines kept in each process for `ngx.errlog`.
fn capture_error_log(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let arg = cmd.arg(0);
    let size = conf::value::size(cmd, arg)?;
    if size < 4096 {
        return Err(cmd.error(format!(
            "invalid capture error log size \"{arg}\", minimum size is 4096"
        )));
    }
    crate::vm::with_building(|g| g.capture_error_log = Some(size as usize));
    Ok(())
}

fn accepted_number(_: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    conf::value::number(cmd, cmd.arg(0)).map(|_| ())
}

const ANY: conf::Ctx = HTTP | SRV | LOC | LIF;

static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::value("lua_code_cache", ANY, Args::Flag, code_cache),
    Directive::value("lua_need_request_body", ANY, Args::Flag, need_request_body),
    Directive::value("rewrite_by_lua_no_postpone", HTTP, Args::Flag, rewrite_no_postpone),
    Directive::value("access_by_lua_no_postpone", HTTP, Args::Flag, access_no_postpone),
    Directive::value(
        "lua_transform_underscores_in_response_headers",
        ANY,
        Args::Flag,
        transform_underscores_flag,
    ),
    Directive::value("lua_use_default_type", ANY, Args::Flag, use_default_type_flag),
    Directive::value("lua_http10_buffering", ANY, Args::Flag, http10_buffering),
    Directive::value("lua_check_client_abort", ANY, Args::Flag, check_client_abort),
    Directive::value("set_by_lua_block", SRV | SIF | LOC | LIF, Args::AtLeast(2), set_by_lua),
    Directive::value("set_by_lua", SRV | SIF | LOC | LIF, Args::AtLeast(2), set_by_lua),
    Directive::value("set_by_lua_file", SRV | SIF | LOC | LIF, Args::AtLeast(2), set_by_lua),
    Directive::value("lua_thread_cache_max_entries", HTTP, Args::Exactly(1), thread_cache),
    Directive::value("lua_max_pending_timers", HTTP, Args::Exactly(1), max_timers),
    Directive::value("lua_socket_connect_timeout", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_socket_send_timeout", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_socket_read_timeout", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_socket_keepalive_timeout", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_socket_buffer_size", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_socket_pool_size", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_socket_log_errors", ANY, Args::Flag, socket_setting),
    Directive::value("lua_socket_send_lowat", ANY, Args::Exactly(1), socket_setting),
    Directive::value("lua_ssl_trusted_certificate", ANY, Args::Exactly(1), ssl_setting),
    Directive::value("lua_ssl_verify_depth", ANY, Args::Exactly(1), ssl_setting),
    Directive::value("lua_ssl_protocols", ANY, Args::AtLeast(1), ssl_setting),
    Directive::value("lua_ssl_ciphers", ANY, Args::Exactly(1), ssl_setting),
    Directive::value("lua_ssl_certificate", ANY, Args::Exactly(1), ssl_setting),
    Directive::value("lua_ssl_certificate_key", ANY, Args::Exactly(1), ssl_setting),
    Directive::value("lua_ssl_crl", ANY, Args::Exactly(1), ssl_setting),
    Directive::value("lua_ssl_conf_command", ANY, Args::Exactly(2), ssl_setting),
    Directive::value("lua_max_running_timers", HTTP, Args::Exactly(1), max_timers),
    Directive::value("lua_load_resty_core", HTTP, Args::Flag, accepted_flag),
    Directive::value("lua_sa_restart", HTTP, Args::Flag, accepted_flag),
    Directive::value("lua_malloc_trim", HTTP, Args::Exactly(1), accepted_number),
    Directive::value("lua_capture_error_log", HTTP, Args::Exactly(1), capture_error_log),
    Directive::value("lua_shared_dict", HTTP, Args::Exactly(2), shared_dict),
    Directive::value(
        "lua_regex_cache_max_entries",
        HTTP,
        Args::Exactly(1),
        regex_cache_max_entries,
    ),
    Directive::value("lua_regex_match_limit", HTTP, Args::Exactly(1), regex_match_limit),
    Directive::value("lua_package_path", HTTP, Args::Exactly(1), package_path),
    Directive::value("lua_package_cpath", HTTP, Args::Exactly(1), package_path),
    Directive::value("init_by_lua_block", HTTP, Args::Exactly(1), init_inline),
    Directive::value("init_by_lua", HTTP, Args::Exactly(1), init_inline),
    Directive::value("init_by_lua_file", HTTP, Args::Exactly(1), init_file),
    Directive::value("init_worker_by_lua_block", HTTP, Args::Exactly(1), init_worker_inline),
    Directive::value("init_worker_by_lua", HTTP, Args::Exactly(1), init_worker_inline),
    Directive::value("init_worker_by_lua_file", HTTP, Args::Exactly(1), init_worker_file),
    Directive::value("exit_worker_by_lua_block", HTTP, Args::Exactly(1), exit_worker_inline),
    Directive::value("exit_worker_by_lua_file", HTTP, Args::Exactly(1), exit_worker_file),
    Directive::value("content_by_lua_block", LOC | LIF, Args::Exactly(1), content_inline),
    Directive::value("content_by_lua", LOC | LIF, Args::Exactly(1), content_inline),
    Directive::value("content_by_lua_file", LOC | LIF, Args::Exactly(1), content_file),
    Directive::value(
        "server_rewrite_by_lua_block",
        HTTP | SRV,
        Args::Exactly(1),
        server_rewrite_inline,
    ),
    Directive::value(
        "server_rewrite_by_lua",
        HTTP | SRV,
        Args::Exactly(1),
        server_rewrite_inline,
    ),
    Directive::value(
        "server_rewrite_by_lua_file",
        HTTP | SRV,
        Args::Exactly(1),
        server_rewrite_file,
    ),
    Directive::value("rewrite_by_lua_block", ANY, Args::Exactly(1), rewrite_inline),
    Directive::value("rewrite_by_lua", ANY, Args::Exactly(1), rewrite_inline),
    Directive::value("rewrite_by_lua_file", ANY, Args::Exactly(1), rewrite_file),
    Directive::value("access_by_lua_block", ANY, Args::Exactly(1), access_inline),
    Directive::value("access_by_lua", ANY, Args::Exactly(1), access_inline),
    Directive::value("access_by_lua_file", ANY, Args::Exactly(1), access_file),
    Directive::value(
        "header_filter_by_lua_block",
        ANY,
        Args::Exactly(1),
        header_filter_inline,
    ),
    Directive::value("header_filter_by_lua", ANY, Args::Exactly(1), header_filter_inline),
    Directive::value("header_filter_by_lua_file", ANY, Args::Exactly(1), header_filter_file),
    Directive::value("body_filter_by_lua_block", ANY, Args::Exactly(1), body_filter_inline),
    Directive::value("body_filter_by_lua", ANY, Args::Exactly(1), body_filter_inline),
    Directive::value("body_filter_by_lua_file", ANY, Args::Exactly(1), body_filter_file),
    Directive::value("log_by_lua_block", ANY, Args::Exactly(1), log_inline),
    Directive::value("balancer_by_lua_block", UPS, Args::Exactly(1), crate::balancer::inline),
    Directive::value(
        "ssl_certificate_by_lua_block",
        SRV,
        Args::Exactly(1),
        crate::ssl::certificate_inline,
    ),
    Directive::value(
        "ssl_certificate_by_lua_file",
        SRV,
        Args::Exactly(1),
        crate::ssl::certificate_file,
    ),
    Directive::value(
        "ssl_client_hello_by_lua_block",
        SRV,
        Args::Exactly(1),
        crate::ssl::client_hello_inline,
    ),
    Directive::value(
        "ssl_client_hello_by_lua_file",
        SRV,
        Args::Exactly(1),
        crate::ssl::client_hello_file,
    ),
    Directive::value(
        "ssl_session_fetch_by_lua_block",
        HTTP | SRV,
        Args::Exactly(1),
        crate::ssl::session_fetch_inline,
    ),
    Directive::value(
        "ssl_session_fetch_by_lua_file",
        HTTP | SRV,
        Args::Exactly(1),
        crate::ssl::session_fetch_file,
    ),
    Directive::value(
        "ssl_session_store_by_lua_block",
        HTTP | SRV,
        Args::Exactly(1),
        crate::ssl::session_store_inline,
    ),
    Directive::value(
        "ssl_session_store_by_lua_file",
        HTTP | SRV,
        Args::Exactly(1),
        crate::ssl::session_store_file,
    ),
    Directive::value("balancer_by_lua_file", UPS, Args::Exactly(1), crate::balancer::file),
    Directive::value("balancer_keepalive", UPS, Args::Exactly(1), crate::balancer::keepalive),
    Directive::value("log_by_lua", ANY, Args::Exactly(1), log_inline),
    Directive::value("log_by_lua_file", ANY, Args::Exactly(1), log_file),
];

/// lua-nginx-module: its directives and its handlers in every phase.
pub static MODULE: Module = Module {
    install: Some(install),
    install_server: Some(install_server),
    ..Module::new("ngx_http_lua_module", DIRECTIVES)
};

/// `server_rewrite_by_lua*` runs first in the server-rewrite phase, before the server's
/// `set` / `rewrite` / `return` (as OpenResty's handler, registered after nginx's own).
fn install_server(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    let Some(c) = d.ext.get::<LuaLocConf>() else {
        return Ok(());
    };
    if let Some(code) = &c.server_rewrite {
        let h = LuaHandler::new(
            crate::vm::current(),
            code.clone(),
            Phase::ServerRewrite,
            c.handler_options(),
        );
        t.rewrite.insert(0, Rc::new(h));
    }
    Ok(())
}

/// Puts a location's Lua handlers into its phase table.
fn install(_b: &HttpBuilder, d: &LocDraft, t: &mut Phases) -> Result<()> {
    // (a lua_ssl_* file or command that cannot be used fails the start, as nginx's)
    if let Some(s) = d.ext.get::<crate::api::socket_tcp::SocketConf>() {
        let tls = s.tls();
        if tls.names_files() {
            http::tls::build_client_context(&tls).map_err(conf::ConfError::Other)?;
        }
    }
    let Some(c) = d.ext.get::<LuaLocConf>() else {
        return Ok(());
    };
    let lua = crate::vm::current();
    let handler =
        |code: &Rc<LuaCode>, phase| Rc::new(LuaHandler::new(lua.clone(), code.clone(), phase, c.handler_options()));
    // by default Lua runs at the end of its phase, after every other module's handlers
    if let Some(code) = &c.rewrite {
        let h = handler(code, Phase::Rewrite);
        if c.rewrite_no_postpone.unwrap_or(false) {
            t.rewrite.insert(0, h)
        } else {
            t.postpone_rewrite(h)
        }
    }
    if let Some(code) = &c.access {
        let h = handler(code, Phase::Access);
        if c.access_no_postpone.unwrap_or(false) {
            t.access.insert(0, h)
        } else {
            t.postpone_access(h)
        }
    }
    let sync = |code: &Rc<LuaCode>, phase| Rc::new(SyncHandler::new(lua.clone(), code.clone(), phase, c.code_cache()));
    if let Some(code) = &c.header_filter {
        t.header_filters.push(sync(code, Phase::HeaderFilter));
    }
    if let Some(code) = &c.body_filter {
        t.body_filters.push(sync(code, Phase::BodyFilter));
    }
    if let Some(code) = &c.log {
        // (it may wait: it runs as a handler, after the response, without its connection)
        let options = HandlerOptions {
            need_body: false,
            check_client_abort: false,
            ..c.handler_options()
        };
        t.log
            .push(Rc::new(LuaHandler::new(lua.clone(), code.clone(), Phase::Log, options)));
    }
    if let Some(code) = &c.content {
        t.content = Some(handler(code, Phase::Content));
    }
    Ok(())
}
