//! The typed http configuration: what the `http { }` block builds, level by level
//! (http → server → location), with nginx's inheritance of location-level settings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::ext::Extensions;
use crate::phase::PhaseTable;
use crate::template::Template;

crate::settings! {
    /// The core module's location-level settings.
    pub struct Settings {
        root: PathValue = PathValue::literal("html"),
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
        error_pages: Arc<[ErrorPage]> = Arc::from(Vec::new()),
        underscores_in_headers: bool = false,
        ignore_invalid_headers: bool = true,
        msie_padding: bool = true,
        max_ranges: Option<u64> = None,
        if_modified_since: IfModifiedSince = IfModifiedSince::Exact,
        satisfy_any: bool = false,
        /// `keepalive_disable`: (msie6, safari).
        keepalive_disable: (bool, bool) = (true, false),
        auth_delay_ms: u64 = 0,
        absolute_redirect: bool = true,
        port_in_redirect: bool = true,
        server_name_in_redirect: bool = false,
        recursive_error_pages: bool = false,
        chunked_transfer_encoding: bool = true,
        /// `resolver`: the DNS servers names are looked up with (none: no lookups).
        resolver: Option<Arc<crate::resolver::ResolverConf>> = None,
        resolver_timeout_ms: u64 = 30_000,
    }
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
    /// `listen … ssl`: connections to the address speak TLS.
    pub ssl: bool,
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
    /// The ssl module's part (certificates, client verification), when it has one.
    pub tls: Option<Rc<crate::modules::ssl::ServerTls>>,
    /// Where the `server` block is (nginx names it in some errors).
    pub at: Option<conf::Location>,
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

/// A variable the configuration defines as computed from others when read (`map`,
/// `geo`, `split_clients`).
pub trait Computed {
    fn value(&self, r: &crate::request::Request) -> String;
}

/// A variable known by name beyond the core's: a module's, or one the configuration
/// computes.
pub enum VarDef {
    Module(&'static crate::module::Variable),
    Computed(Box<dyn Computed>),
}

impl VarDef {
    pub fn get(&self, r: &crate::request::Request) -> Option<String> {
        match self {
            VarDef::Module(v) => (v.get)(r),
            VarDef::Computed(c) => Some(c.value(r)),
        }
    }
}

/// The whole http block, ready to serve.
pub struct HttpConf {
    pub servers: Vec<Rc<Server>>,
    pub prefix: PathBuf,
    /// Variables declared by `set` (writable from Lua's ngx.var).
    pub declared_vars: std::collections::HashSet<String>,
    /// Modules' variables and the computed ones, by name.
    pub variables: HashMap<String, VarDef>,
    /// Modules' families of variables by prefix.
    pub prefix_variables: Vec<&'static crate::module::PrefixVariable>,
    /// Modules' settings for the whole block (log formats…).
    pub main: crate::ext::Extensions,
    /// The main configuration file's directory.
    pub conf_dir: PathBuf,
    /// Temp-file directories of modules (`HttpBuilder::temp_dirs`).
    pub temp_dirs: Vec<PathBuf>,
}

impl HttpConf {
    /// Every directory temp files go to: the request bodies' of each location and the
    /// modules'.
    pub fn all_temp_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.temp_dirs.clone();
        for loc in self.locations() {
            let dir = self.prefix.join(loc.settings.client_body_temp_path().as_path());
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Every location of every server: the server's own level and nested locations too
    /// (not `if` and `limit_except` blocks).
    pub fn locations(&self) -> Vec<&Location> {
        fn walk<'a>(l: &'a Location, out: &mut Vec<&'a Location>) {
            out.push(l);
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
