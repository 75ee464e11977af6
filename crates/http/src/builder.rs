//! Reading an `http { }` block: the drafts its directives fill level by level (http →
//! server → location), merged and compiled into `HttpConf` at the end (nginx's create and
//! merge conf), with each module's handlers installed in the order of the module list.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use conf::registry::HTTP;
use conf::{Cmd, ConfError, Registry, Result};

use crate::config::*;
use crate::ext::{ExtConf, Extensions};
use crate::module::{Module, Phases, Scope};
use crate::template::Template;

/// A location (or the http / server level) while the config is read.
#[derive(Default)]
pub struct LocDraft {
    pub matcher: Option<Match>,
    /// The core module's settings.
    pub settings: Settings,
    /// Every other module's settings, by type.
    pub ext: Extensions,
    pub internal: bool,
    pub alias: Option<PathValue>,
    pub nested: Vec<LocDraft>,
    /// Blocks inside this level compiled as locations of their own that inherit from it
    /// (a location's `if`): each compiled location goes into its cell.
    pub blocks: Vec<(LocDraft, Rc<std::cell::OnceCell<Rc<Location>>>)>,
    /// `limit_except`: the methods it lets through and the block's draft.
    pub limit_except: Option<(Vec<String>, Box<LocDraft>)>,
    pub at: Option<conf::Location>,
}

impl LocDraft {
    /// This level's settings of one module (created empty on first use).
    pub fn conf<T: ExtConf>(&mut self) -> &mut T {
        self.ext.get_or_default()
    }
}

#[derive(Default)]
pub(crate) struct ServerDraft {
    pub listens: Vec<Listen>,
    pub names: Vec<ServerName>,
    pub settings: ServerDraftSettings,
}

/// Server-level settings as written at one level (http or server); http's are the
/// defaults of every server, whichever comes first in the file.
#[derive(Default, Clone)]
pub struct ServerDraftSettings {
    pub client_header_timeout_ms: Option<u64>,
    pub client_header_buffer_size: Option<usize>,
    pub large_header_buffers: Option<(usize, usize)>,
    pub merge_slashes: Option<bool>,
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

pub struct HttpBuilder {
    pub prefix: PathBuf,
    /// The main configuration file's directory.
    pub conf_dir: PathBuf,
    modules: &'static [&'static Module],
    /// Level drafts from http (index 0) down to the current block.
    pub(crate) stack: Vec<LocDraft>,
    pub(crate) server: Option<ServerDraft>,
    /// Server-level settings written at http level: every server's defaults.
    pub(crate) http_srv: ServerDraftSettings,
    servers: Vec<(ServerDraft, LocDraft)>,
    /// Modules' settings for the whole http block (nginx's main confs: log formats…).
    pub main: Extensions,
    /// Variables used in templates, checked once everything (incl. `set`) is known.
    used_vars: Vec<(String, conf::Location)>,
    pub declared_vars: Vec<String>,
    variables: HashMap<String, VarDef>,
    prefix_variables: Vec<&'static crate::module::PrefixVariable>,
    running_as_root: bool,
    /// Directories modules write temp files in (proxy_temp_path…): the master makes them
    /// and hands them to the worker user, as nginx does.
    pub temp_dirs: Vec<PathBuf>,
}

impl HttpBuilder {
    pub fn new(prefix: &Path, modules: &'static [&'static Module]) -> HttpBuilder {
        let mut variables = HashMap::new();
        for m in modules {
            for v in m.variables {
                variables.insert(v.name.to_string(), VarDef::Module(v));
            }
        }
        let prefix_variables = modules.iter().flat_map(|m| m.prefix_variables).collect();
        HttpBuilder {
            prefix: prefix.to_path_buf(),
            conf_dir: prefix.join("conf"),
            modules,
            stack: vec![LocDraft::default()],
            server: None,
            http_srv: ServerDraftSettings::default(),
            servers: Vec::new(),
            main: Extensions::default(),
            used_vars: Vec::new(),
            declared_vars: Vec::new(),
            variables,
            prefix_variables,
            // SAFETY: geteuid has no preconditions.
            running_as_root: unsafe { libc::geteuid() } == 0,
            temp_dirs: Vec::new(),
        }
    }

    /// The settings of the block being read (http, server or location).
    pub fn loc(&mut self) -> &mut LocDraft {
        self.stack.last_mut().expect("http level is always there")
    }

    /// How deep the block being read is: 1 at http level, 2 in a server, more below.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// A file a directive names, relative to the configuration's directory (as nginx's
    /// ngx_conf_full_name with the conf prefix); an absolute path stays as it is.
    pub fn conf_file(&self, p: &str) -> String {
        conf_file(&self.conf_dir, p)
    }

    /// Compiles `v` as a template, remembering its variables for the final check.
    pub fn template(&mut self, cmd: &Cmd, v: &str) -> Result<Template> {
        let t = Template::parse(v).map_err(|e| cmd.error(e.0))?;
        for name in t.variables() {
            self.used_vars.push((name.to_string(), cmd.at.clone()));
        }
        Ok(t)
    }

    /// True when `name` is a variable of the core or of a module (not one `set` declares).
    pub fn is_builtin_var(&self, name: &str) -> bool {
        crate::variables::is_known(name)
            || matches!(self.variables.get(name), Some(VarDef::Module(_)))
            || self.prefix_variables.iter().any(|p| p.suffix(name).is_some())
    }

    /// A module's variable that `set` may change, with its setter.
    pub fn var_setter(&self, name: &str) -> Option<crate::module::VarSetter> {
        match self.variables.get(name) {
            Some(VarDef::Module(v)) => v.set,
            _ => None,
        }
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
        if self.is_builtin_var(var) && !declared {
            return Err(cmd.error(format!("the duplicate \"{var}\" variable")));
        }
        if !declared {
            self.declared_vars.push(var.to_string());
        }
        Ok(var.to_string())
    }

    /// Declares `$name` as a variable computed from others when read (`map`, `geo`,
    /// `split_clients`): its computation is given by `set_computed`.
    pub fn declare_computed(&mut self, cmd: &Cmd, word: &str) -> Result<String> {
        let name = self.declare_var(cmd, word)?;
        if self.variables.contains_key(&name) {
            return Err(cmd.error(format!("the duplicate \"{name}\" variable")));
        }
        Ok(name)
    }

    pub fn set_computed(&mut self, name: String, value: Box<dyn Computed>) {
        self.variables.insert(name, VarDef::Computed(value));
    }

    /// Compiles a regex of the configuration. Its named groups become variables
    /// (`(?<id>\d+)` declares `$id`), set when it matches, as in nginx.
    pub fn regex(&mut self, cmd: &Cmd, pattern: &str, caseless: bool) -> Result<pcre2::bytes::Regex> {
        let re = pcre2::bytes::RegexBuilder::new()
            .caseless(caseless)
            .jit_if_available(true)
            .build(pattern)
            .map_err(|e| cmd.error(format!("pcre2_compile() failed: {e} in \"{pattern}\"")))?;
        for name in re.capture_names().iter().flatten() {
            self.declare_var(cmd, &format!("${name}"))?;
        }
        Ok(re)
    }

    /// Reads a block's children as a draft of its own (`server`, `location`, `if`,
    /// `limit_except`), in context `ctx`.
    pub fn read_block(
        &mut self,
        cmd: &Cmd,
        ctx: conf::Ctx,
        reg: &Registry<HttpBuilder>,
        draft: LocDraft,
    ) -> Result<LocDraft> {
        self.stack.push(LocDraft {
            at: Some(cmd.at.clone()),
            ..draft
        });
        reg.run(self, ctx, cmd.children())?;
        Ok(self.stack.pop().expect("pushed above"))
    }

    pub(crate) fn add_server(&mut self, sd: ServerDraft, level: LocDraft) {
        self.servers.push((sd, level));
    }

    /// Merges levels, checks variables, builds handler tables.
    pub fn finish(mut self) -> Result<HttpConf> {
        for (name, at) in &self.used_vars {
            if !crate::variables::is_known(name)
                && !self.variables.contains_key(name)
                && !self.prefix_variables.iter().any(|p| p.suffix(name).is_some())
                && !self.declared_vars.iter().any(|d| d == name)
            {
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
                let l = self.compile(child, &level, Scope::Location)?;
                if let Match::Named(n) = &l.matcher {
                    named.insert(n.clone(), l);
                } else {
                    locations.push(l);
                }
            }
            let server_rewrite = self.install(&level, Scope::Server)?;
            let tls = crate::modules::ssl::server_tls(&level, &self.conf_dir)?;
            let at = level.at.clone();
            let loc = self.compile(
                LocDraft {
                    matcher: Some(Match::Prefix(String::new())),
                    ..level
                },
                &LocDraft::default(),
                Scope::ServerLevel,
            )?;
            let mut listens = sd.listens.clone();
            if listens.is_empty() {
                let port = if self.running_as_root { 80 } else { 8000 };
                listens.push(Listen {
                    addr: ListenAddr::Tcp(SocketAddr::from(([0, 0, 0, 0], port))),
                    default_server: false,
                    reuseport: false,
                    backlog: 511,
                    ssl: false,
                });
            }
            if tls.as_ref().is_some_and(|t| t.ssl_on) {
                for l in &mut listens {
                    l.ssl = true;
                }
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
                tls,
                at,
            }));
        }
        let conf = HttpConf {
            servers,
            prefix: self.prefix,
            declared_vars: self.declared_vars.iter().cloned().collect(),
            variables: self.variables,
            prefix_variables: self.prefix_variables,
            main: self.main,
            conf_dir: self.conf_dir,
            temp_dirs: self.temp_dirs,
        };
        crate::modules::ssl::check_listens(&conf)?;
        Ok(conf)
    }

    /// Every module's handlers for one merged level, in the modules' order.
    fn install(&self, d: &LocDraft, scope: Scope) -> Result<crate::phase::PhaseTable> {
        let mut phases = Phases::new(scope);
        for m in self.modules {
            let installer = match scope {
                Scope::Server => m.install_server,
                Scope::ServerLevel | Scope::Location => m.install,
            };
            if let Some(install) = installer {
                install(self, d, &mut phases)?;
            }
        }
        Ok(phases.finish())
    }

    fn compile(&self, mut d: LocDraft, parent: &LocDraft, scope: Scope) -> Result<Rc<Location>> {
        d.settings.merge(&parent.settings);
        d.ext.merge(&parent.ext);
        let phases = self.install(&d, scope)?;
        let mut nested = Vec::new();
        for child in std::mem::take(&mut d.nested) {
            nested.push(self.compile(child, &d, Scope::Location)?);
        }
        // blocks within the location serve with its content handler (and try_files)
        // unless they have one of their own
        let inherit_content = |mut loc: Rc<Location>, precontent: bool| {
            if let Some(l) = Rc::get_mut(&mut loc) {
                if l.phases.content.is_none() {
                    l.phases.content = phases.content.clone();
                }
                if precontent && l.phases.precontent.is_empty() {
                    l.phases.precontent = phases.precontent.clone();
                }
            }
            loc
        };
        let limit_except = match d.limit_except.take() {
            Some((methods, draft)) => {
                let lim = self.compile(
                    LocDraft {
                        matcher: d.matcher.clone(),
                        alias: d.alias.clone(),
                        ..*draft
                    },
                    &d,
                    Scope::Location,
                )?;
                Some((methods, inherit_content(lim, true)))
            }
            None => None,
        };
        for (draft, cell) in std::mem::take(&mut d.blocks) {
            let loc = self.compile(
                LocDraft {
                    matcher: d.matcher.clone(),
                    alias: d.alias.clone(),
                    ..draft
                },
                &d,
                Scope::Location,
            )?;
            let _ = cell.set(inherit_content(loc, false));
        }
        Ok(Rc::new(Location {
            matcher: d.matcher.unwrap_or(Match::Prefix(String::new())),
            settings: d.settings,
            ext: d.ext,
            internal: d.internal,
            alias: d.alias,
            nested,
            phases,
            limit_except,
        }))
    }
}

/// Reads a status code argument (`return`, `error_page`'s `=code`, `try_files`' `=code`).
pub fn status_code(cmd: &Cmd, v: &str) -> Result<u16> {
    match v.parse::<u16>() {
        Ok(c) if c <= 999 => Ok(c),
        _ => Err(cmd.error(format!("invalid return code \"{v}\""))),
    }
}

/// Appends to a level's own list (a level with one does not inherit its parent's).
pub fn push_to<T: Clone>(list: &mut Option<Arc<[T]>>, item: T) {
    let mut items = list.as_deref().map(<[T]>::to_vec).unwrap_or_default();
    items.push(item);
    *list = Some(items.into());
}

/// The http registry with every module's directives.
pub fn registry(modules: &[&Module]) -> Registry<HttpBuilder> {
    let mut r = Registry::default();
    for m in modules {
        r.add(m.directives);
    }
    r
}

/// Reads an `http { }` block's children into a finished configuration, with the
/// modules listed (in their order), for a main configuration file in `conf_dir` (what
/// relative file names of some directives, `auth_basic_user_file`, are relative to).
pub fn build(
    registry: &Registry<HttpBuilder>,
    modules: &'static [&'static Module],
    prefix: &Path,
    conf_dir: &Path,
    cmds: &[Cmd],
) -> Result<HttpConf> {
    let mut b = HttpBuilder::new(prefix, modules);
    b.conf_dir = conf_dir.to_path_buf();
    registry.run(&mut b, HTTP, cmds)?;
    b.finish()
}

/// `p` relative to `conf_dir` (an absolute `p` replaces it): [`HttpBuilder::conf_file`].
pub fn conf_file(conf_dir: &Path, p: &str) -> String {
    conf_dir.join(p).to_string_lossy().into_owned()
}
