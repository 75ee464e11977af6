//! The typed http configuration: what the `http { }` block builds, level by level
//! (http → server → location), with nginx's inheritance of location-level settings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::ext::Extensions;
use crate::log_format::{AccessLog, LogFormat};
use crate::phase::PhaseTable;
use crate::template::Template;

/// Declares the inheritable location-level settings once: the struct of `Option`s, the
/// merge from the parent level, and getters that fall back to nginx's defaults.
macro_rules! loc_settings {
    ($( $(#[$m:meta])* $name:ident : $ty:ty = $default:expr ),* $(,)?) => {
        #[derive(Clone, Default)]
        pub struct Settings { $( $(#[$m])* pub $name: Option<$ty>, )* }
        impl Settings {
            pub fn merge(&mut self, parent: &Settings) {
                $( if self.$name.is_none() { self.$name = parent.$name.clone(); } )*
            }
            $( pub fn $name(&self) -> $ty { self.$name.clone().unwrap_or_else(|| $default) } )*
        }
    };
}

loc_settings! {
    root: PathValue = PathValue::literal("html"),
    index: Arc<[String]> = Arc::from(vec!["index.html".to_string()]),
    default_type: Arc<str> = Arc::from("text/plain"),
    types: Arc<HashMap<String, Arc<str>>> = Arc::new(HashMap::new()),
    keepalive_timeout_ms: u64 = 75_000,
    keepalive_header_sec: Option<u64> = None,
    keepalive_requests: u64 = 1000,
    client_max_body_size: u64 = 1 << 20,
    client_body_timeout_ms: u64 = 60_000,
    client_body_buffer_size: u64 = 16 << 10,
    client_body_temp_path: Arc<PathBuf> = Arc::new(PathBuf::from("client_body_temp")),
    client_body_in_file_only: BodyInFileOnly = BodyInFileOnly::Off,
    send_timeout_ms: u64 = 60_000,
    server_tokens: bool = true,
    etag: bool = true,
    log_not_found: bool = true,
    sendfile: bool = false,
    tcp_nodelay: bool = true,
    lingering_close: LingeringClose = LingeringClose::On,
    lingering_time_ms: u64 = 30_000,
    lingering_timeout_ms: u64 = 5_000,
    access_log: Arc<[AccessLog]> = Arc::from(Vec::new()),
    error_pages: Arc<[ErrorPage]> = Arc::from(Vec::new()),
    add_headers: Arc<[AddHeader]> = Arc::from(Vec::new()),
    underscores_in_headers: bool = false,
    ignore_invalid_headers: bool = true,
    msie_padding: bool = true,
    max_ranges: Option<u64> = None,
    if_modified_since: IfModifiedSince = IfModifiedSince::Exact,
    /// `allow` / `deny`: a level with rules of its own does not inherit its parent's.
    access_rules: Arc<[crate::access::Rule]> = Arc::from(Vec::new()),
    satisfy_any: bool = false,
    expires: crate::expires::Expires = crate::expires::Expires::Off,
    /// realip: trusted proxies (a level with some of its own does not inherit), the
    /// header that names the client, whether X-Forwarded-For is walked past proxies.
    real_ip_from: Arc<[crate::access::Clients]> = Arc::from(Vec::new()),
    real_ip_header: Arc<str> = Arc::from("X-Real-IP"),
    real_ip_recursive: bool = false,
    /// Bytes per second a response goes out at, after `limit_rate_after` bytes; 0: no limit.
    limit_rate: u64 = 0,
    limit_rate_after: u64 = 0,
    /// `keepalive_disable`: (msie6, safari).
    keepalive_disable: (bool, bool) = (true, false),
    auth_delay_ms: u64 = 0,
    autoindex: bool = false,
    autoindex_exact_size: bool = true,
    autoindex_localtime: bool = false,
    autoindex_format: crate::autoindex::Format = crate::autoindex::Format::Html,
    absolute_redirect: bool = true,
    port_in_redirect: bool = true,
    server_name_in_redirect: bool = false,
    recursive_error_pages: bool = false,
    chunked_transfer_encoding: bool = true,
    /// `charset`: `None` is off.
    charset: Option<Arc<str>> = None,
    /// `auth_basic realm` (`None`: off) and its `auth_basic_user_file`.
    auth_basic: Option<Arc<str>> = None,
    auth_basic_user_file: Option<Template> = None,
    charset_types: Arc<[String]> = crate::charset::DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
}

/// `root` / `alias`: a path, rendered per request when it holds variables (`$host`, `$1`).
#[derive(Clone)]
pub struct PathValue {
    text: Arc<str>,
    vars: Option<Template>,
}

impl PathValue {
    pub fn literal(text: &str) -> PathValue {
        PathValue {
            text: Arc::from(text),
            vars: None,
        }
    }

    pub fn with_variables(template: Template) -> PathValue {
        PathValue {
            text: Arc::from(template.source()),
            vars: Some(template),
        }
    }

    pub fn get(&self, r: &crate::request::Request) -> std::borrow::Cow<'_, str> {
        match &self.vars {
            None => std::borrow::Cow::Borrowed(&self.text),
            Some(t) => std::borrow::Cow::Owned(t.render(r)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LingeringClose {
    Off,
    On,
    Always,
}

/// `client_body_in_file_only`: every request body goes to a temp file, kept after the
/// request (`on`) or removed with it (`clean`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyInFileOnly {
    Off,
    On,
    Clean,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfModifiedSince {
    Off,
    Exact,
    Before,
}

/// `error_page 404 500 [=code] uri;`
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub codes: Vec<u16>,
    /// `=code`: answer with this status; `=` alone: the status of the page's own response.
    pub overwrite: Overwrite,
    pub target: Template,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    Keep,
    To(u16),
    FromTarget,
}

/// `add_header name value [always];`
#[derive(Clone, Debug)]
pub struct AddHeader {
    pub name: String,
    pub value: Template,
    pub always: bool,
}

/// `return code [text|URL];` or `return URL;`
#[derive(Clone, Debug)]
pub struct Return {
    pub code: u16,
    pub text: Option<Template>,
}

/// One directive of the rewrite module's script, run in order in the rewrite phase.
#[derive(Clone)]
pub enum ScriptOp {
    /// `set $var value;`
    Set { var: String, value: Template },
    /// `return ...;`
    Return(Return),
    /// A module's `set`-like directive (set_by_lua): `var` gets what `f` computes.
    Call {
        var: String,
        args: Vec<Template>,
        f: std::rc::Rc<dyn ScriptCall>,
    },
    /// `rewrite regex replacement [flag];`
    Rewrite(Rc<Rewrite>),
    /// `break;`: the rest of the script is skipped.
    Break,
    /// `if (cond) { ... }`: when true, the block's script runs and (in a location) the
    /// request takes on the block's settings and handlers.
    If(Rc<IfBlock>),
}

pub struct Rewrite {
    pub re: Arc<pcre2::bytes::Regex>,
    pub replacement: Template,
    pub flag: RewriteFlag,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    None,
    Last,
    Break,
    Redirect,
    Permanent,
}

pub struct IfBlock {
    pub cond: Cond,
    pub ops: Vec<ScriptOp>,
    /// The block's own location (an `if` in a location), set when the location compiles.
    pub loc: std::cell::OnceCell<Rc<Location>>,
}

/// An `if` condition.
pub enum Cond {
    /// `$var`: true unless empty or "0".
    Value(Template),
    /// `$var = value` (or `!=` when `negate`).
    Equals {
        left: Template,
        right: Template,
        negate: bool,
    },
    /// `$var ~ re`, `~*`, `!~`, `!~*`.
    Regex {
        left: Template,
        re: Arc<pcre2::bytes::Regex>,
        negate: bool,
    },
    /// `-f`, `-d`, `-e`, `-x` (and `!-f` … when `negate`).
    File {
        test: FileTest,
        path: Template,
        negate: bool,
    },
}

#[derive(Clone, Copy)]
pub enum FileTest {
    File,
    Dir,
    Exists,
    Exec,
}

impl Cond {
    pub fn eval(&self, r: &mut crate::request::Request) -> bool {
        match self {
            Cond::Value(t) => {
                let v = t.render(r);
                !(v.is_empty() || v == "0")
            }
            Cond::Equals { left, right, negate } => (left.render(r) == right.render(r)) != *negate,
            Cond::Regex { left, re, negate } => {
                let subject = left.render(r);
                r.capture(re, &subject) != *negate
            }
            Cond::File { test, path, negate } => {
                let meta = std::fs::metadata(r.http.prefix.join(path.render(r)));
                let ok = match (test, meta) {
                    (FileTest::File, Ok(m)) => m.is_file(),
                    (FileTest::Dir, Ok(m)) => m.is_dir(),
                    (FileTest::Exists, Ok(_)) => true,
                    (FileTest::Exec, Ok(m)) => {
                        use std::os::unix::fs::PermissionsExt;
                        m.is_file() && m.permissions().mode() & 0o111 != 0
                    }
                    (_, Err(_)) => false,
                };
                ok != *negate
            }
        }
    }
}

/// Computes a variable's value in the rewrite script; `Err` answers 500.
pub trait ScriptCall {
    fn call(&self, r: &mut crate::request::Request, args: &[String]) -> Result<Option<String>, ScriptFailed>;
}

/// A script step failed; the reason is already in the error log.
#[derive(Debug)]
pub struct ScriptFailed;

/// `try_files file ... uri|=code;`
#[derive(Clone, Debug)]
pub struct TryFiles {
    pub files: Vec<Template>,
    pub fallback: Template,
}

/// How a location matches a URI.
#[derive(Clone, Debug)]
pub enum Match {
    Exact(String),
    /// `^~ prefix`: a prefix that, when longest, stops the regex search.
    PrefixNoRegex(String),
    Prefix(String),
    Regex {
        source: String,
        caseless: bool,
        re: Arc<pcre2::bytes::Regex>,
    },
    Named(String),
}

/// One `location` block, its settings merged with its ancestors'.
pub struct Location {
    pub matcher: Match,
    pub settings: Settings,
    pub ext: Extensions,
    pub internal: bool,
    pub alias: Option<PathValue>,
    pub try_files: Option<TryFiles>,
    pub nested: Vec<Rc<Location>>,
    pub phases: PhaseTable,
    /// `limit_except METHOD… { }`: the methods let through as the location says, and
    /// the block's location for all others.
    pub limit_except: Option<(Vec<String>, Rc<Location>)>,
}

impl Location {
    /// The location as written, for logs: `= /x`, `~ re`, `@name`, `/prefix`.
    pub fn describe(&self) -> String {
        match &self.matcher {
            Match::Exact(s) => format!("= {s}"),
            Match::PrefixNoRegex(s) => format!("^~ {s}"),
            Match::Prefix(s) => s.clone(),
            Match::Regex { source, caseless, .. } => format!("{} {source}", if *caseless { "~*" } else { "~" }),
            Match::Named(n) => n.clone(),
        }
    }
}

/// `listen` address of a server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Listen {
    pub addr: ListenAddr,
    pub default_server: bool,
    pub reuseport: bool,
    pub backlog: i32,
}

#[derive(Clone, Debug)]
pub enum ServerName {
    Exact(String),
    /// `*.example.com`: matches `a.example.com`, `a.b.example.com` (stored: `.example.com`).
    WildStart(String),
    /// `www.example.*` (stored: `www.example.`).
    WildEnd(String),
    /// `.example.com`: the name itself and every subdomain (stored: `example.com`).
    Dot(String),
    Regex(String, Arc<pcre2::bytes::Regex>),
}

/// Server-level settings that are not inherited by locations.
#[derive(Clone)]
pub struct ServerSettings {
    pub client_header_timeout_ms: u64,
    pub client_header_buffer_size: usize,
    pub large_header_buffers: (usize, usize),
    pub merge_slashes: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            client_header_timeout_ms: 60_000,
            client_header_buffer_size: 1024,
            large_header_buffers: (4, 8192),
            merge_slashes: true,
        }
    }
}

pub struct Server {
    pub listens: Vec<Listen>,
    pub names: Vec<ServerName>,
    pub settings: ServerSettings,
    /// The server's own level (for requests that match no location).
    pub loc: Rc<Location>,
    pub locations: Vec<Rc<Location>>,
    pub named: HashMap<String, Rc<Location>>,
    /// Server-level handlers: post-read, and the server-rewrite phase (server-level
    /// `set`/`return`) in `rewrite`.
    pub server_rewrite: PhaseTable,
}

impl Server {
    /// The first name, as nginx reports `server:` in error-log lines.
    pub fn primary_name(&self) -> &str {
        match self.names.first() {
            Some(ServerName::Exact(n)) => n,
            Some(ServerName::WildStart(n)) | Some(ServerName::WildEnd(n)) | Some(ServerName::Dot(n)) => n,
            Some(ServerName::Regex(s, _)) => s,
            None => "",
        }
    }
}

/// A variable the configuration defines as computed from others.
pub enum Computed {
    Map(crate::map::Map),
    Geo(crate::geo::Geo),
    Split(crate::split_clients::SplitClients),
}

impl Computed {
    pub fn value(&self, r: &crate::request::Request) -> String {
        match self {
            Computed::Map(m) => m.value(r),
            Computed::Geo(g) => g.value(r),
            Computed::Split(s) => s.value(r),
        }
    }
}

/// The whole http block, ready to serve.
pub struct HttpConf {
    pub servers: Vec<Rc<Server>>,
    pub log_formats: HashMap<String, Arc<LogFormat>>,
    pub prefix: PathBuf,
    /// Variables declared by `set` (writable from Lua's ngx.var).
    pub declared_vars: std::collections::HashSet<String>,
    /// Variables computed from others when read (`map`, `geo`, `split_clients`), by name.
    pub computed: HashMap<String, Computed>,
    /// The main configuration file's directory.
    pub conf_dir: PathBuf,
}

impl HttpConf {
    /// Every access log file any location writes to.
    pub fn access_log_paths(&self) -> Vec<PathBuf> {
        fn walk(l: &Location, out: &mut Vec<PathBuf>) {
            for a in l.settings.access_log().iter() {
                if a.path_vars.is_none() && !out.contains(&a.path) {
                    out.push(a.path.clone());
                }
            }
            for n in &l.nested {
                walk(n, out);
            }
        }
        let mut out = Vec::new();
        for s in &self.servers {
            walk(&s.loc, &mut out);
            for l in s.locations.iter().chain(s.named.values()) {
                walk(l, &mut out);
            }
        }
        out
    }
}
