//! The http module's directives and the builder they fill: http → server → location drafts,
//! merged and compiled into `HttpConf` at the end (nginx's create/merge conf).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use conf::registry::{HTTP, LIF, LMT, LOC, SIF, SRV};
use conf::{Args, Cmd, ConfError, Directive, Registry, Result, set_once, value};

use crate::config::*;
use crate::ext::Extensions;
use crate::handlers::{AddHeaders, ScriptHandler, TryFilesHandler};
use crate::log_format::{AccessLog, Escape, LogFormat};
use crate::phase::PhaseTable;
use crate::template::Template;

/// A location (or the http / server level) while the config is read.
#[derive(Default)]
pub struct LocDraft {
    pub matcher: Option<Match>,
    pub settings: Settings,
    pub ext: Extensions,
    pub internal: bool,
    pub alias: Option<crate::config::PathValue>,
    /// `set` / `return` in the order written (the rewrite module's script).
    pub script: Vec<ScriptOp>,
    /// `if` blocks of a location, compiled with it (each becomes a location of its own).
    pub ifs: Vec<(Rc<IfBlock>, LocDraft)>,
    pub try_files: Option<TryFiles>,
    pub nested: Vec<LocDraft>,
    /// `empty_gif`: the location's content handler.
    pub empty_gif: bool,
    /// echo's commands: the location's content handler.
    pub echo: Vec<crate::echo::Op>,
    /// `limit_except`: the methods it lets through and the block's draft.
    pub limit_except: Option<(Vec<String>, Box<LocDraft>)>,
    pub at: Option<conf::Location>,
}

#[derive(Default)]
struct ServerDraft {
    listens: Vec<Listen>,
    names: Vec<ServerName>,
    settings: ServerDraftSettings,
}

/// Installs a module's phase handlers for one (merged) location.
pub type Installer = fn(&LocDraft, &mut PhaseTable) -> Result<()>;

pub struct HttpBuilder {
    pub prefix: PathBuf,
    log_formats: HashMap<String, Arc<LogFormat>>,
    /// Level drafts from http (index 0) down to the current block.
    stack: Vec<LocDraft>,
    server: Option<ServerDraft>,
    /// Server-level settings written at http level: every server's defaults.
    http_srv: ServerDraftSettings,
    servers: Vec<(ServerDraft, LocDraft)>,
    installers: Vec<Installer>,
    /// Variables used in templates, checked once everything (incl. `set`) is known.
    used_vars: Vec<(String, conf::Location)>,
    pub declared_vars: Vec<String>,
    computed: HashMap<String, crate::config::Computed>,
    /// The main configuration file's directory.
    pub conf_dir: PathBuf,
    running_as_root: bool,
}

impl HttpBuilder {
    pub fn new(prefix: &Path) -> HttpBuilder {
        let mut log_formats = HashMap::new();
        log_formats.insert("combined".to_string(), Arc::new(LogFormat::combined()));
        HttpBuilder {
            prefix: prefix.to_path_buf(),
            log_formats,
            stack: vec![LocDraft::default()],
            server: None,
            http_srv: ServerDraftSettings::default(),
            servers: Vec::new(),
            installers: vec![install_core],
            used_vars: Vec::new(),
            declared_vars: Vec::new(),
            computed: HashMap::new(),
            conf_dir: prefix.join("conf"),
            // SAFETY: geteuid has no preconditions.
            running_as_root: unsafe { libc::geteuid() } == 0,
        }
    }

    /// The settings of the block being read (http, server or location).
    pub fn loc(&mut self) -> &mut LocDraft {
        self.stack.last_mut().expect("http level is always there")
    }

    /// Registers a module's phase installer (Lua adds its handlers this way).
    pub fn add_installer(&mut self, f: Installer) {
        self.installers.push(f);
    }

    /// Compiles `v` as a template, remembering its variables for the final check.
    pub fn template(&mut self, cmd: &Cmd, v: &str) -> Result<Template> {
        let t = Template::parse(v).map_err(|e| cmd.error(e.0))?;
        for name in t.variables() {
            self.used_vars.push((name.to_string(), cmd.at.clone()));
        }
        Ok(t)
    }

    /// Declares `$name` (for `set` and module directives that set variables) and returns
    /// the name without `$`; built-in variables cannot be declared again.
    pub fn declare_var(&mut self, cmd: &Cmd, word: &str) -> Result<String> {
        let Some(var) = word.strip_prefix('$') else {
            return Err(cmd.error(format!("invalid variable name \"{word}\"")));
        };
        if var.is_empty() || !var.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err(cmd.error(format!("invalid variable name \"{word}\"")));
        }
        // names are case-insensitive: nginx keeps them lowercased
        let var = &var.to_ascii_lowercase();
        let declared = self.declared_vars.iter().any(|d| d == var);
        if crate::variables::is_known(var) && !declared {
            return Err(cmd.error(format!("the duplicate \"{var}\" variable")));
        }
        if !declared {
            self.declared_vars.push(var.to_string());
        }
        Ok(var.to_string())
    }

    /// Merges levels, checks variables, builds handler tables.
    pub fn finish(mut self) -> Result<HttpConf> {
        for (name, at) in &self.used_vars {
            if !crate::variables::is_known(name) && !self.declared_vars.iter().any(|d| d == name) {
                return Err(ConfError::Invalid {
                    msg: format!("unknown \"{name}\" variable"),
                    at: at.clone(),
                });
            }
        }
        let http = self.stack.pop().expect("http level");
        let mut servers = Vec::new();
        for (sd, mut level) in std::mem::take(&mut self.servers) {
            level.settings.merge(&http.settings);
            level.ext.merge(&http.ext);
            let mut named = HashMap::new();
            let mut locations = Vec::new();
            for child in std::mem::take(&mut level.nested) {
                let l = self.compile(child, &level)?;
                if let Match::Named(n) = &l.matcher {
                    named.insert(n.clone(), l);
                } else {
                    locations.push(l);
                }
            }
            let mut server_rewrite = PhaseTable::default();
            // realip at the server level runs before the location is looked up
            if !level.settings.real_ip_from().is_empty() {
                server_rewrite.post_read.push(Rc::new(crate::realip::RealIpHandler));
            }
            let script = std::mem::take(&mut level.script);
            if !script.is_empty() {
                server_rewrite.rewrite.push(Rc::new(ScriptHandler(script)));
            }
            let loc = self.compile(
                LocDraft {
                    matcher: Some(Match::Prefix(String::new())),
                    ..level
                },
                &LocDraft::default(),
            )?;
            let mut listens = sd.listens.clone();
            if listens.is_empty() {
                let port = if self.running_as_root { 80 } else { 8000 };
                listens.push(Listen {
                    addr: ListenAddr::Tcp(SocketAddr::from(([0, 0, 0, 0], port))),
                    default_server: false,
                    reuseport: false,
                    backlog: 511,
                });
            }
            let names = if sd.names.is_empty() {
                vec![ServerName::Exact(String::new())]
            } else {
                sd.names
            };
            servers.push(Rc::new(Server {
                listens,
                names,
                settings: sd.settings.resolve(&self.http_srv),
                loc,
                locations,
                named,
                server_rewrite,
            }));
        }
        Ok(HttpConf {
            servers,
            log_formats: self.log_formats,
            prefix: self.prefix,
            declared_vars: self.declared_vars.iter().cloned().collect(),
            computed: self.computed,
            conf_dir: self.conf_dir,
        })
    }

    fn compile(&self, mut d: LocDraft, parent: &LocDraft) -> Result<Rc<Location>> {
        d.settings.merge(&parent.settings);
        d.ext.merge(&parent.ext);
        if d.settings.access_log.is_none() {
            let default = AccessLog {
                path: self.prefix.join("logs/access.log"),
                path_vars: None,
                prefix: self.prefix.clone(),
                format: self.log_formats["combined"].clone(),
                condition: None,
            };
            d.settings.access_log = Some(Arc::from(vec![default]));
        }
        let mut phases = PhaseTable::default();
        for inst in &self.installers {
            inst(&d, &mut phases)?;
        }
        install_last(&d, &mut phases);
        let mut nested = Vec::new();
        for child in std::mem::take(&mut d.nested) {
            nested.push(self.compile(child, &d)?);
        }
        let limit_except = match d.limit_except.take() {
            Some((methods, draft)) => {
                let mut lim = self.compile(
                    LocDraft {
                        matcher: d.matcher.clone(),
                        alias: d.alias.clone(),
                        try_files: d.try_files.clone(),
                        ..*draft
                    },
                    &d,
                )?;
                // the block serves with its location's content handler
                if let Some(l) = Rc::get_mut(&mut lim)
                    && l.phases.content.is_none()
                {
                    l.phases.content = phases.content.clone();
                }
                Some((methods, lim))
            }
            None => None,
        };
        for (block, draft) in std::mem::take(&mut d.ifs) {
            let mut loc = self.compile(
                LocDraft {
                    matcher: d.matcher.clone(),
                    alias: d.alias.clone(),
                    ..draft
                },
                &d,
            )?;
            // an `if` block without a content handler of its own keeps its location's
            if let Some(l) = Rc::get_mut(&mut loc)
                && l.phases.content.is_none()
            {
                l.phases.content = phases.content.clone();
            }
            let _ = block.loc.set(loc);
        }
        Ok(Rc::new(Location {
            matcher: d.matcher.unwrap_or(Match::Prefix(String::new())),
            settings: d.settings,
            ext: d.ext,
            internal: d.internal,
            alias: d.alias,
            try_files: d.try_files,
            nested,
            phases,
            limit_except,
        }))
    }
}

/// The http core's own handlers for a location.
fn install_core(d: &LocDraft, t: &mut PhaseTable) -> Result<()> {
    if !d.script.is_empty() {
        t.rewrite.push(Rc::new(ScriptHandler(d.script.clone())));
    }
    if let Some(more) = d.ext.get::<crate::headers_more::MoreHeaders>()
        && !more.input.is_empty()
    {
        t.rewrite
            .push(Rc::new(crate::headers_more::InputHandler(more.input.clone())));
    }
    if !d.settings.real_ip_from().is_empty() {
        t.preaccess.push(Rc::new(crate::realip::RealIpHandler));
    }
    if !d.settings.access_rules().is_empty() {
        t.access.push(Rc::new(crate::access::AccessHandler));
    }
    if d.settings.auth_basic().is_some() {
        t.access.push(Rc::new(crate::auth_basic::AuthBasicHandler));
    }
    if d.empty_gif {
        t.content = Some(Rc::new(crate::handlers::EmptyGif));
    }
    if !d.echo.is_empty() {
        let status = d.ext.get::<crate::echo::EchoConf>().and_then(|e| e.status);
        t.content = Some(Rc::new(crate::echo::EchoHandler {
            ops: Rc::new(d.echo.clone()),
            status: status.unwrap_or(200),
        }));
    }
    if let Some(tf) = &d.try_files {
        t.precontent.push(Rc::new(TryFilesHandler(tf.clone())));
    }
    if let Some(charset) = d.settings.charset() {
        t.header_filters.push(Rc::new(crate::charset::CharsetFilter {
            charset,
            types: d.settings.charset_types(),
        }));
    }
    if !matches!(d.settings.expires(), crate::expires::Expires::Off) {
        t.header_filters
            .push(Rc::new(crate::expires::ExpiresFilter(d.settings.expires())));
    }
    let add = d.settings.add_headers();
    if !add.is_empty() {
        t.header_filters.push(Rc::new(AddHeaders(add)));
    }
    Ok(())
}

/// Handlers that come after every module's: headers-more's output filter sees the
/// headers the others (Lua's header filters too) have set, as in OpenResty.
fn install_last(d: &LocDraft, t: &mut PhaseTable) {
    if let Some(more) = d.ext.get::<crate::headers_more::MoreHeaders>()
        && !more.output.is_empty()
    {
        t.header_filters
            .push(Rc::new(crate::headers_more::OutputFilter(more.output.clone())));
    }
}

/// `more_set_headers`, `more_clear_headers`, `more_set_input_headers`,
/// `more_clear_input_headers` (see headers_more.rs).
fn more_headers(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let input = cmd.name.contains("_input_");
    let c = Rc::new(crate::headers_more::command(cmd, input, |v| b.template(cmd, v))?);
    let more = b.loc().ext.get_or_default::<crate::headers_more::MoreHeaders>();
    if input {
        more.input.push(c);
    } else {
        more.output.push(c);
    }
    Ok(())
}

// ---- block directives ----

fn server(b: &mut HttpBuilder, cmd: &Cmd, reg: &Registry<HttpBuilder>) -> Result<()> {
    b.server = Some(ServerDraft::default());
    b.stack.push(LocDraft {
        at: Some(cmd.at.clone()),
        ..Default::default()
    });
    reg.run(b, SRV, cmd.children())?;
    let level = b.stack.pop().expect("pushed above");
    let sd = b.server.take().expect("set above");
    b.servers.push((sd, level));
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
            re: Arc::new(config_regex(b, cmd, pattern, caseless)?),
        })
    };
    let matcher = match modifier {
        "=" => Match::Exact(pattern.to_string()),
        "^~" => Match::PrefixNoRegex(pattern.to_string()),
        "~" => regex(false)?,
        "~*" => regex(true)?,
        "" if pattern.starts_with('@') => {
            if b.stack.len() != 2 {
                return Err(cmd.error(format!("named location \"{pattern}\" can be on the server level only")));
            }
            Match::Named(pattern.to_string())
        }
        "" => Match::Prefix(pattern.to_string()),
        m => return Err(cmd.error(format!("invalid location modifier \"{m}\""))),
    };
    let depth = b.stack.len();
    if let Some(Match::Prefix(parent) | Match::PrefixNoRegex(parent)) = &b.loc().matcher
        && depth > 2
        && let Match::Prefix(p) | Match::PrefixNoRegex(p) | Match::Exact(p) = &matcher
        && !p.starts_with(parent.as_str())
    {
        return Err(cmd.error(format!("location \"{p}\" is outside location \"{parent}\"")));
    }
    b.stack.push(LocDraft {
        matcher: Some(matcher),
        at: Some(cmd.at.clone()),
        ..Default::default()
    });
    reg.run(b, LOC, cmd.children())?;
    let done = b.stack.pop().expect("pushed above");
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

/// `map string $variable { key value; … }` (http).
fn map(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    use crate::map::{Entry, Map};
    let source = b.template(cmd, cmd.arg(0))?;
    let name = b.declare_var(cmd, cmd.arg(1))?;
    if b.computed.contains_key(&name) {
        return Err(cmd.error(format!("the duplicate \"{name}\" variable")));
    }
    let mut map = Map::new(source);
    for line in cmd.children() {
        let bad_count = || line.error("invalid number of the map parameters".to_string());
        if line.block.is_some() {
            return Err(bad_count());
        }
        let entry = match (line.name.as_str(), line.args.len()) {
            ("hostnames", 0) => Entry::Hostnames,
            ("volatile", 0) => Entry::Volatile,
            (_, n) if n != 1 => return Err(bad_count()),
            ("default", _) => Entry::Default(b.template(line, line.arg(0))?),
            (key, _) => {
                let value = b.template(line, line.arg(0))?;
                if let Some(pattern) = key.strip_prefix("~*") {
                    Entry::Regex(config_regex(b, line, pattern, true)?, value)
                } else if let Some(pattern) = key.strip_prefix('~') {
                    Entry::Regex(config_regex(b, line, pattern, false)?, value)
                } else {
                    // `\default`, `\~x`: a key spelled like a special parameter
                    Entry::Key(key.strip_prefix('\\').unwrap_or(key).to_string(), value)
                }
            }
        };
        map.add(entry).map_err(|msg| line.error(msg))?;
    }
    b.computed.insert(name, crate::config::Computed::Map(map));
    Ok(())
}

/// `geo [$address] $variable { … }` (http).
fn geo(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    let (source, var) = match cmd.args.len() {
        1 => (None, cmd.arg(0)),
        _ => (Some(b.template(cmd, cmd.arg(0))?), cmd.arg(1)),
    };
    let name = b.declare_var(cmd, var)?;
    if b.computed.contains_key(&name) {
        return Err(cmd.error(format!("the duplicate \"{name}\" variable")));
    }
    let mut geo = crate::geo::Geo::new(source);
    for line in cmd.children() {
        let value = match line.args.len() {
            0 => None,
            1 => Some(line.arg(0)),
            _ => return Err(line.error("invalid number of the geo parameters".to_string())),
        };
        geo.add(&line.name, value).map_err(|msg| line.error(msg))?;
    }
    b.computed.insert(name, crate::config::Computed::Geo(geo));
    Ok(())
}

/// `split_clients string $variable { N% value; … * value; }` (http).
fn split_clients(b: &mut HttpBuilder, cmd: &Cmd, _reg: &Registry<HttpBuilder>) -> Result<()> {
    let source = b.template(cmd, cmd.arg(0))?;
    let name = b.declare_var(cmd, cmd.arg(1))?;
    if b.computed.contains_key(&name) {
        return Err(cmd.error(format!("the duplicate \"{name}\" variable")));
    }
    let mut parts = Vec::new();
    for line in cmd.children() {
        if line.args.len() != 1 || line.block.is_some() {
            return Err(line.error("invalid number of the split_clients parameters".to_string()));
        }
        let percent = match line.name.as_str() {
            "*" => None,
            p => Some(
                crate::split_clients::percent(p).ok_or_else(|| line.error(format!("invalid percent value \"{p}\"")))?,
            ),
        };
        parts.push((percent, line.arg(0).to_string()));
    }
    let split = crate::split_clients::SplitClients::new(source, parts).map_err(|msg| cmd.error(msg))?;
    b.computed.insert(name, crate::config::Computed::Split(split));
    Ok(())
}

/// Compiles a regex of the configuration. Its named groups become variables
/// (`(?<id>\d+)` declares `$id`), set when it matches, as in nginx.
fn config_regex(b: &mut HttpBuilder, cmd: &Cmd, pattern: &str, caseless: bool) -> Result<pcre2::bytes::Regex> {
    let re = pcre2::bytes::RegexBuilder::new()
        .caseless(caseless)
        .jit_if_available(true)
        .build(pattern)
        .map_err(|e| cmd.error(format!("pcre2_compile() failed: {e} in \"{pattern}\"")))?;
    for name in re.capture_names().iter().flatten() {
        b.declare_var(cmd, &format!("${name}"))?;
    }
    Ok(re)
}

/// `rewrite regex replacement [last|break|redirect|permanent];`
fn rewrite(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let pattern = cmd.arg(0);
    let re = config_regex(b, cmd, pattern, false)?;
    let replacement = b.template(cmd, cmd.arg(1))?;
    let flag = match cmd.args.get(2).map(|a| a.value.as_str()) {
        None => RewriteFlag::None,
        Some("last") => RewriteFlag::Last,
        Some("break") => RewriteFlag::Break,
        Some("redirect") => RewriteFlag::Redirect,
        Some("permanent") => RewriteFlag::Permanent,
        Some(f) => return Err(cmd.error(format!("invalid parameter \"{f}\""))),
    };
    b.loc().script.push(ScriptOp::Rewrite(Rc::new(Rewrite {
        re: Arc::new(re),
        replacement,
        flag,
    })));
    Ok(())
}

fn break_(b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    b.loc().script.push(ScriptOp::Break);
    Ok(())
}

/// `if (condition) { ... }` in a server or a location.
fn if_(b: &mut HttpBuilder, cmd: &Cmd, reg: &Registry<HttpBuilder>) -> Result<()> {
    let cond = parse_condition(b, cmd)?;
    let in_server = b.stack.len() == 2;
    b.stack.push(LocDraft {
        at: Some(cmd.at.clone()),
        ..Default::default()
    });
    reg.run(b, if in_server { SIF } else { LIF }, cmd.children())?;
    let mut draft = b.stack.pop().expect("pushed above");
    let block = Rc::new(IfBlock {
        cond,
        ops: std::mem::take(&mut draft.script),
        loc: std::cell::OnceCell::new(),
    });
    b.loc().script.push(ScriptOp::If(block.clone()));
    if !in_server {
        b.loc().ifs.push((block, draft));
    }
    Ok(())
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
    b.stack.push(LocDraft {
        at: Some(cmd.at.clone()),
        ..Default::default()
    });
    reg.run(b, LMT, cmd.children())?;
    let draft = b.stack.pop().expect("pushed above");
    b.loc().limit_except = Some((methods, Box::new(draft)));
    Ok(())
}

/// nginx's `if` conditions: `$v`, `$v = x`, `$v != x`, `$v ~ re`, `~*`, `!~`, `!~*`,
/// `-f`/`-d`/`-e`/`-x` and their `!` forms.
fn parse_condition(b: &mut HttpBuilder, cmd: &Cmd) -> Result<Cond> {
    let mut words: Vec<String> = cmd.values().map(str::to_string).collect();
    let invalid = || {
        cmd.error(format!(
            "invalid condition \"{}\"",
            cmd.values().collect::<Vec<_>>().join(" ")
        ))
    };
    match words.first_mut() {
        Some(w) if w.starts_with('(') => {
            w.remove(0);
        }
        _ => return Err(invalid()),
    }
    match words.last_mut() {
        Some(w) if w.ends_with(')') => {
            w.pop();
        }
        _ => return Err(invalid()),
    }
    words.retain(|w| !w.is_empty());
    match words.as_slice() {
        [v] if v.starts_with('$') => Ok(Cond::Value(b.template(cmd, v)?)),
        [op, path] => {
            let (negate, op) = match op.strip_prefix('!') {
                Some(o) => (true, o),
                None => (false, op.as_str()),
            };
            let test = match op {
                "-f" => FileTest::File,
                "-d" => FileTest::Dir,
                "-e" => FileTest::Exists,
                "-x" => FileTest::Exec,
                _ => return Err(cmd.error(format!("unexpected \"{op}\" in condition"))),
            };
            Ok(Cond::File {
                test,
                path: b.template(cmd, path)?,
                negate,
            })
        }
        [left, op, right] if left.starts_with('$') => {
            let left = b.template(cmd, left)?;
            match op.as_str() {
                "=" | "!=" => Ok(Cond::Equals {
                    left,
                    right: b.template(cmd, right)?,
                    negate: op == "!=",
                }),
                "~" | "~*" | "!~" | "!~*" => {
                    let re = config_regex(b, cmd, right, op.ends_with('*'))?;
                    Ok(Cond::Regex {
                        left,
                        re: Arc::new(re),
                        negate: op.starts_with('!'),
                    })
                }
                _ => Err(cmd.error(format!("unexpected \"{op}\" in condition"))),
            }
        }
        _ => Err(invalid()),
    }
}

// ---- server-level ----

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
    };
    for opt in cmd.values().skip(1) {
        match opt {
            "default_server" | "default" => l.default_server = true,
            "reuseport" => l.reuseport = true,
            _ if opt.starts_with("backlog=") => {
                l.backlog = opt[8..]
                    .parse()
                    .map_err(|_| cmd.error(format!("invalid backlog \"{}\"", &opt[8..])))?;
            }
            // accepted for compatibility; see docs/compat.md
            "http2" | "ssl" | "proxy_protocol" | "deferred" | "bind" | "ipv6only=on" | "ipv6only=off"
            | "so_keepalive=on" | "so_keepalive=off" => {
                if opt == "ssl" || opt == "http2" || opt == "proxy_protocol" {
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
            ServerName::Regex(n.to_string(), Arc::new(config_regex(b, cmd, re, true)?))
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

/// Server-level settings as written at one level (http or server); http's are the
/// defaults of every server, whichever comes first in the file.
#[derive(Default, Clone)]
pub struct ServerDraftSettings {
    client_header_timeout_ms: Option<u64>,
    client_header_buffer_size: Option<usize>,
    large_header_buffers: Option<(usize, usize)>,
    merge_slashes: Option<bool>,
}

impl ServerDraftSettings {
    fn resolve(&self, http: &ServerDraftSettings) -> ServerSettings {
        let d = ServerSettings::default();
        ServerSettings {
            client_header_timeout_ms: self
                .client_header_timeout_ms
                .or(http.client_header_timeout_ms)
                .unwrap_or(d.client_header_timeout_ms),
            client_header_buffer_size: self
                .client_header_buffer_size
                .or(http.client_header_buffer_size)
                .unwrap_or(d.client_header_buffer_size),
            large_header_buffers: self
                .large_header_buffers
                .or(http.large_header_buffers)
                .unwrap_or(d.large_header_buffers),
            merge_slashes: self.merge_slashes.or(http.merge_slashes).unwrap_or(d.merge_slashes),
        }
    }
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

// ---- location-level settings ----

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
flag_setting!(autoindex, autoindex);
flag_setting!(autoindex_exact_size, autoindex_exact_size);
flag_setting!(autoindex_localtime, autoindex_localtime);

/// `autoindex_format html | xml | json | jsonp`
fn autoindex_format(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    use crate::autoindex::Format;
    let f = match cmd.arg(0) {
        "html" => Format::Html,
        "xml" => Format::Xml,
        "json" => Format::Json,
        "jsonp" => Format::Jsonp,
        v => return Err(cmd.invalid_value(v, "")),
    };
    set_once(&mut b.loc().settings.autoindex_format, f, cmd)
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

fn limit_rate(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::size(cmd, cmd.arg(0))?;
    if cmd.name == "limit_rate" {
        set_once(&mut b.loc().settings.limit_rate, v, cmd)
    } else {
        set_once(&mut b.loc().settings.limit_rate_after, v, cmd)
    }
}
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
msec_setting!(auth_delay, auth_delay_ms);
msec_setting!(lingering_time, lingering_time_ms);
msec_setting!(lingering_timeout, lingering_timeout_ms);
size_setting!(client_max_body_size, client_max_body_size);
size_setting!(client_body_buffer_size, client_body_buffer_size);

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

/// The echo module's commands (`echo`, `echo_duplicate`, `echo_flush`, `echo_sleep`,
/// `echo_blocking_sleep`, `echo_exec`), in the order written.
fn echo(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    use crate::echo::{Op, seconds};
    let args: Vec<&str> = cmd.values().collect();
    let time = |v: &str| seconds(v).ok_or_else(|| cmd.error(format!("invalid time value \"{v}\"")));
    let arity = || ConfError::Arity {
        name: cmd.name.clone(),
        at: cmd.at.clone(),
    };
    let op = match (cmd.name.as_str(), args.as_slice()) {
        ("echo", _) => {
            let (newline, skip) = crate::echo::echo_args(&args);
            let mut words = Vec::new();
            for w in &args[skip..] {
                words.push(b.template(cmd, w)?);
            }
            Op::Echo { words, newline }
        }
        ("echo_duplicate", [count, text]) => Op::Duplicate {
            count: b.template(cmd, count)?,
            text: b.template(cmd, text)?,
        },
        ("echo_flush", []) => Op::Flush,
        ("echo_sleep", [t]) => Op::Sleep(time(t)?),
        ("echo_blocking_sleep", [t]) => Op::BlockingSleep(time(t)?),
        ("echo_exec", [target, rest @ ..]) if rest.len() <= 1 => Op::Exec {
            target: b.template(cmd, target)?,
            args: match rest.first() {
                Some(a) => Some(b.template(cmd, a)?),
                None => None,
            },
        },
        _ => return Err(arity()),
    };
    b.loc().echo.push(op);
    Ok(())
}

fn empty_gif(b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    b.loc().empty_gif = true;
    Ok(())
}

/// `echo_status code;`: the status of echo's responses.
fn echo_status(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let code = value::number(cmd, cmd.arg(0))?;
    if !(100..1000).contains(&code) {
        return Err(cmd.invalid_value(cmd.arg(0), ""));
    }
    let conf = b.loc().ext.get_or_default::<crate::echo::EchoConf>();
    conf.status = Some(code as u16);
    Ok(())
}

/// `auth_basic realm | off;`
fn auth_basic(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let realm = (v != "off").then(|| Arc::from(v));
    set_once(&mut b.loc().settings.auth_basic, realm, cmd)
}

/// `auth_basic_user_file file;` (variables allowed; relative to the main configuration
/// file's directory)
fn auth_basic_user_file(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let file = b.template(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().settings.auth_basic_user_file, Some(file), cmd)
}

/// `charset name | off;`
fn charset(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    let charset = (v != "off").then(|| Arc::from(v));
    set_once(&mut b.loc().settings.charset, charset, cmd)
}

/// `charset_types mime-type ...;` (`*`: any)
fn charset_types(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let types: Arc<[String]> = cmd.values().map(str::to_ascii_lowercase).collect();
    set_once(&mut b.loc().settings.charset_types, types, cmd)
}

/// `expires [modified] time | @time | epoch | max | off | $variable;`
fn expires(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    use crate::expires::Expires;
    let args: Vec<&str> = cmd.values().collect();
    let rule = match crate::expires::parse(&args).map_err(|msg| cmd.error(msg))? {
        Some(rule) => rule,
        None => Expires::Var {
            value: b.template(cmd, args[args.len() - 1])?,
            modified: args.len() == 2,
        },
    };
    set_once(&mut b.loc().settings.expires, rule, cmd)
}

/// An address argument (`addr`, `addr/prefix`, `unix:`, `all`): nginx warns about host
/// bits set below the prefix and clears them.
fn address_arg(cmd: &Cmd) -> Result<crate::access::Clients> {
    use crate::access::Parsed;
    let arg = cmd.arg(0);
    match crate::access::parse(arg) {
        Parsed::Ok(c) => Ok(c),
        Parsed::LowBitsSet(c) => {
            crate::elog!(
                crate::log::Level::Warn,
                0,
                "low address bits of {arg} are meaningless in {}",
                cmd.at
            );
            Ok(c)
        }
        Parsed::Invalid => Err(cmd.error(format!("invalid parameter \"{arg}\""))),
    }
}

/// Appends to a level's own list (a level with one does not inherit its parent's).
fn push_to<T: Clone>(list: &mut Option<Arc<[T]>>, item: T) {
    let mut items = list.as_deref().map(<[T]>::to_vec).unwrap_or_default();
    items.push(item);
    *list = Some(items.into());
}

/// `set_real_ip_from address | CIDR | unix:`, appended to this level's trusted proxies.
fn set_real_ip_from(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let from = address_arg(cmd)?;
    if from == crate::access::Clients::All {
        return Err(cmd.error(format!("invalid parameter \"{}\"", cmd.arg(0))));
    }
    push_to(&mut b.loc().settings.real_ip_from, from);
    Ok(())
}

fn real_ip_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    if v == "proxy_protocol" {
        return Err(cmd.error("real_ip_header proxy_protocol is not supported yet".to_string()));
    }
    set_once(&mut b.loc().settings.real_ip_header, Arc::from(v), cmd)
}

fn real_ip_recursive(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let v = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut b.loc().settings.real_ip_recursive, v, cmd)
}

/// `allow` / `deny address | CIDR | unix: | all`, appended to this level's rules.
fn access_rule(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let rule = crate::access::Rule {
        allow: cmd.name == "allow",
        what: address_arg(cmd)?,
    };
    push_to(&mut b.loc().settings.access_rules, rule);
    Ok(())
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
fn path_value(b: &mut HttpBuilder, cmd: &Cmd) -> Result<crate::config::PathValue> {
    let v = cmd.arg(0);
    Ok(if v.contains('$') {
        crate::config::PathValue::with_variables(b.template(cmd, v)?)
    } else {
        crate::config::PathValue::literal(v)
    })
}

fn index(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    for v in cmd.values() {
        if v.is_empty() {
            return Err(cmd.error("index \"\" in \"index\" directive is invalid"));
        }
    }
    let list: Vec<String> = cmd.values().map(str::to_string).collect();
    set_once(&mut b.loc().settings.index, Arc::from(list), cmd)
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

fn parse_code(cmd: &Cmd, v: &str) -> Result<u16> {
    match v.parse::<u16>() {
        Ok(c) if c <= 999 => Ok(c),
        _ => Err(cmd.error(format!("invalid return code \"{v}\""))),
    }
}

fn return_(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let first = cmd.arg(0);
    let ret = if cmd.args.len() == 1 && !first.bytes().all(|c| c.is_ascii_digit()) {
        if !(first.starts_with("http://") || first.starts_with("https://") || first.starts_with("$scheme")) {
            return Err(cmd.error(format!("invalid return code \"{first}\"")));
        }
        Return {
            code: 302,
            text: Some(b.template(cmd, first)?),
        }
    } else {
        let code = parse_code(cmd, first)?;
        let text = if cmd.args.len() == 2 {
            Some(b.template(cmd, cmd.arg(1))?)
        } else {
            None
        };
        Return { code, text }
    };
    b.loc().script.push(ScriptOp::Return(ret));
    Ok(())
}

fn try_files(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if b.loc().try_files.is_some() {
        return Err(cmd.duplicate());
    }
    let mut all: Vec<Template> = Vec::new();
    for v in cmd.values() {
        all.push(b.template(cmd, v)?);
    }
    let fallback = all.pop().expect("arity >= 2");
    if let Some(code) = fallback.source().strip_prefix('=') {
        parse_code(cmd, code)?;
    }
    b.loc().try_files = Some(TryFiles { files: all, fallback });
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
                Overwrite::To(parse_code(cmd, o)?)
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

fn add_header(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let always = match cmd.args.get(2).map(|a| a.value.as_str()) {
        None => false,
        Some("always") => true,
        Some(v) => return Err(cmd.error(format!("invalid parameter \"{v}\""))),
    };
    let value = b.template(cmd, cmd.arg(1))?;
    let mut list = b
        .loc()
        .settings
        .add_headers
        .as_deref()
        .map(<[AddHeader]>::to_vec)
        .unwrap_or_default();
    list.push(AddHeader {
        name: cmd.arg(0).to_string(),
        value,
        always,
    });
    b.loc().settings.add_headers = Some(Arc::from(list));
    Ok(())
}

fn log_format(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let name = cmd.arg(0).to_string();
    if b.log_formats.contains_key(&name) {
        return Err(cmd.error(format!("duplicate \"log_format\" name \"{name}\"")));
    }
    let mut rest: Vec<&str> = cmd.values().skip(1).collect();
    let mut escape = Escape::Default;
    if let Some(e) = rest.first().and_then(|f| f.strip_prefix("escape=")) {
        escape = match e {
            "default" => Escape::Default,
            "json" => Escape::Json,
            "none" => Escape::None,
            _ => return Err(cmd.error(format!("unknown log format escaping \"{e}\""))),
        };
        rest.remove(0);
    }
    if rest.is_empty() {
        return Err(ConfError::Arity {
            name: cmd.name.clone(),
            at: cmd.at.clone(),
        });
    }
    let template = b.template(cmd, &rest.concat())?;
    b.log_formats
        .insert(name.clone(), Arc::new(LogFormat { name, escape, template }));
    Ok(())
}

fn access_log(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    let mut list = b
        .loc()
        .settings
        .access_log
        .as_deref()
        .map(<[AccessLog]>::to_vec)
        .unwrap_or_default();
    if cmd.arg(0) == "off" {
        if cmd.args.len() > 1 {
            return Err(ConfError::Arity {
                name: cmd.name.clone(),
                at: cmd.at.clone(),
            });
        }
        b.loc().settings.access_log = Some(Arc::from(Vec::new()));
        return Ok(());
    }
    let fmt_name = cmd.args.get(1).map(|a| a.value.as_str()).unwrap_or("combined");
    let format = b
        .log_formats
        .get(fmt_name)
        .cloned()
        .ok_or_else(|| cmd.error(format!("unknown log format \"{fmt_name}\"")))?;
    let mut condition = None;
    let opts: Vec<&str> = cmd.values().skip(2).collect();
    for opt in opts {
        if let Some(cond) = opt.strip_prefix("if=") {
            condition = Some(b.template(cmd, cond)?);
        } else if !(opt.starts_with("buffer=") || opt.starts_with("flush=") || opt.starts_with("gzip")) {
            return Err(cmd.error(format!("invalid parameter \"{opt}\"")));
        }
    }
    let path = b.prefix.join(cmd.arg(0));
    let path_vars = if cmd.arg(0).contains('$') {
        Some(b.template(cmd, cmd.arg(0))?)
    } else {
        None
    };
    list.push(AccessLog {
        path,
        path_vars,
        prefix: b.prefix.clone(),
        format,
        condition,
    });
    b.loc().settings.access_log = Some(Arc::from(list));
    Ok(())
}

/// `error_log` inside http/server/location: validated; the main-level log is the one used.
fn error_log_nested(_b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    if let Some(l) = cmd.args.get(1)
        && crate::log::Level::parse(&l.value).is_none()
    {
        return Err(cmd.error(format!("invalid log level \"{}\"", l.value)));
    }
    Ok(())
}

/// `set $var value;`: declares the variable and sets it in the rewrite phase.
fn set(b: &mut HttpBuilder, cmd: &Cmd) -> Result<()> {
    // the built-in variables nginx lets `set` change
    let var = match cmd.arg(0).to_ascii_lowercase().as_str() {
        name @ ("$args" | "$limit_rate") => name[1..].to_string(),
        _ => b.declare_var(cmd, cmd.arg(0))?,
    };
    let value = b.template(cmd, cmd.arg(1))?;
    b.loc().script.push(ScriptOp::Set { var, value });
    Ok(())
}

/// Directives nginx has that change nothing here; accepted so configs load (docs/compat.md).
fn no_op(_b: &mut HttpBuilder, _cmd: &Cmd) -> Result<()> {
    Ok(())
}

const ANY_LOC: conf::Ctx = HTTP | SRV | LOC;

pub static DIRECTIVES: &[Directive<HttpBuilder>] = &[
    Directive::block("server", HTTP, Args::Block(0, 0), server),
    Directive::block("location", SRV | LOC, Args::Block(1, 2), location),
    Directive::block("types", ANY_LOC, Args::Block(0, 0), types),
    Directive::block("if", SRV | LOC, Args::Block(1, 5), if_),
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
    Directive::value("index", ANY_LOC, Args::AtLeast(1), index),
    Directive::value("default_type", ANY_LOC, Args::Exactly(1), default_type),
    Directive::value("internal", LOC, Args::Exactly(0), internal),
    Directive::value("return", SRV | LOC | SIF | LIF, Args::Range(1, 2), return_),
    Directive::value("set", SRV | LOC | SIF | LIF, Args::Exactly(2), set),
    Directive::value("rewrite", SRV | LOC | SIF | LIF, Args::Range(2, 3), rewrite),
    Directive::value("break", SRV | LOC | SIF | LIF, Args::Exactly(0), break_),
    Directive::value("try_files", SRV | LOC, Args::AtLeast(2), try_files),
    Directive::value("error_page", ANY_LOC | LIF, Args::AtLeast(2), error_page),
    Directive::value("add_header", ANY_LOC | LIF, Args::Range(2, 3), add_header),
    Directive::value("more_set_headers", ANY_LOC | LIF, Args::AtLeast(1), more_headers),
    Directive::value("more_clear_headers", ANY_LOC | LIF, Args::AtLeast(1), more_headers),
    Directive::value("more_set_input_headers", ANY_LOC | LIF, Args::AtLeast(1), more_headers),
    Directive::value(
        "more_clear_input_headers",
        ANY_LOC | LIF,
        Args::AtLeast(1),
        more_headers,
    ),
    Directive::value("expires", ANY_LOC | LIF, Args::Range(1, 2), expires),
    Directive::value("charset", ANY_LOC | LIF, Args::Exactly(1), charset),
    Directive::value("echo", LOC | LIF, Args::AtLeast(0), echo),
    Directive::value("echo_duplicate", LOC | LIF, Args::Exactly(2), echo),
    Directive::value("echo_flush", LOC | LIF, Args::Exactly(0), echo),
    Directive::value("echo_sleep", LOC | LIF, Args::Exactly(1), echo),
    Directive::value("echo_blocking_sleep", LOC | LIF, Args::Exactly(1), echo),
    Directive::value("echo_exec", LOC | LIF, Args::Range(1, 2), echo),
    Directive::value("echo_status", ANY_LOC | LIF, Args::Exactly(1), echo_status),
    Directive::value("empty_gif", LOC, Args::Exactly(0), empty_gif),
    Directive::value("auth_basic", ANY_LOC | LMT, Args::Exactly(1), auth_basic),
    Directive::value(
        "auth_basic_user_file",
        ANY_LOC | LMT,
        Args::Exactly(1),
        auth_basic_user_file,
    ),
    Directive::value("charset_types", ANY_LOC, Args::AtLeast(1), charset_types),
    Directive::value("set_real_ip_from", ANY_LOC, Args::Exactly(1), set_real_ip_from),
    Directive::value("real_ip_header", ANY_LOC, Args::Exactly(1), real_ip_header),
    Directive::value("real_ip_recursive", ANY_LOC, Args::Flag, real_ip_recursive),
    Directive::value("allow", ANY_LOC | LMT, Args::Exactly(1), access_rule),
    Directive::value("deny", ANY_LOC | LMT, Args::Exactly(1), access_rule),
    Directive::value("satisfy", ANY_LOC, Args::Exactly(1), satisfy),
    Directive::value("log_format", HTTP, Args::AtLeast(2), log_format),
    Directive::block("map", HTTP, Args::Block(2, 2), map),
    Directive::block("geo", HTTP, Args::Block(1, 2), geo),
    Directive::block("split_clients", HTTP, Args::Block(2, 2), split_clients),
    Directive::value("access_log", ANY_LOC | LIF, Args::AtLeast(1), access_log),
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
    Directive::value("autoindex", ANY_LOC, Args::Flag, autoindex),
    Directive::value("autoindex_exact_size", ANY_LOC, Args::Flag, autoindex_exact_size),
    Directive::value("autoindex_localtime", ANY_LOC, Args::Flag, autoindex_localtime),
    Directive::value("autoindex_format", ANY_LOC, Args::Exactly(1), autoindex_format),
    Directive::value("limit_rate", ANY_LOC | LIF, Args::Exactly(1), limit_rate),
    Directive::value("keepalive_disable", ANY_LOC, Args::AtLeast(1), keepalive_disable),
    Directive::value("auth_delay", ANY_LOC, Args::Exactly(1), auth_delay),
    Directive::value("disable_symlinks", ANY_LOC, Args::Range(1, 2), disable_symlinks),
    // (no subrequests are made: nothing to log or not)
    Directive::value("log_subrequest", ANY_LOC, Args::Flag, no_op),
    Directive::value("limit_rate_after", ANY_LOC | LIF, Args::Exactly(1), limit_rate),
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
    Directive::value("map_hash_bucket_size", HTTP, Args::Exactly(1), no_op),
    Directive::value("map_hash_max_size", HTTP, Args::Exactly(1), no_op),
    Directive::value("tcp_nopush", ANY_LOC, Args::Flag, no_op),
    Directive::value("reset_timedout_connection", ANY_LOC, Args::Flag, no_op),
    Directive::value("proxy_temp_path", ANY_LOC, Args::Range(1, 4), no_op),
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

/// Reads an `http { }` block's children into a finished configuration.
pub fn build(registry: &Registry<HttpBuilder>, prefix: &Path, cmds: &[Cmd]) -> Result<HttpConf> {
    build_with(registry, &[], prefix, cmds)
}

/// As `build`, with the phase installers of modules above http.
pub fn build_with(
    registry: &Registry<HttpBuilder>,
    installers: &[Installer],
    prefix: &Path,
    cmds: &[Cmd],
) -> Result<HttpConf> {
    build_in(registry, installers, prefix, &prefix.join("conf"), cmds)
}

/// As `build_with`, for a main configuration file in `conf_dir` (what relative file
/// names of some directives, `auth_basic_user_file`, are relative to).
pub fn build_in(
    registry: &Registry<HttpBuilder>,
    installers: &[Installer],
    prefix: &Path,
    conf_dir: &Path,
    cmds: &[Cmd],
) -> Result<HttpConf> {
    let mut b = HttpBuilder::new(prefix);
    b.conf_dir = conf_dir.to_path_buf();
    for i in installers {
        b.add_installer(*i);
    }
    registry.run(&mut b, HTTP, cmds)?;
    b.finish()
}

/// The http registry with the core's table (modules add theirs before use).
pub fn registry() -> Registry<HttpBuilder> {
    let mut r = Registry::default();
    r.add(DIRECTIVES);
    r
}
