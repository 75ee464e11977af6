//! Main-level directives (processes, logs, events) and loading a whole config file.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use conf::registry::{EVENTS, MAIN};
use conf::{Args, Cmd, Directive, Registry, Result, set_once, value};
use http::HttpBuilder;
use http::config::HttpConf;
use http::log::{Level, Target};

/// What the main context and `events {}` configure.
#[derive(Default)]
pub struct CoreConf {
    pub prefix: PathBuf,
    /// The main configuration file's directory.
    pub conf_dir: PathBuf,
    pub worker_processes: Option<usize>,
    pub daemon: Option<bool>,
    pub master_process: Option<bool>,
    pub pid: Option<PathBuf>,
    pub user: Option<(String, Option<String>)>,
    pub worker_rlimit_nofile: Option<u64>,
    pub worker_shutdown_timeout: Option<Duration>,
    pub error_log: Option<(Target, Level)>,
    pub env: Vec<(String, Option<String>)>,
    pub worker_connections: Option<usize>,
    pub http: Option<Rc<HttpConf>>,
    /// The Lua VM of this configuration (init_by_lua has run in it).
    pub lua: Option<lua::Generation>,
    /// The privileged agent init_by_lua asked for, with its worker_connections.
    pub privileged_agent: Option<u64>,
    /// init_by_lua called `ngx.process.signal_graceful_exit()`: stop once started.
    pub quit_requested: bool,
    http_registry: Option<Arc<Registry<HttpBuilder>>>,
}

impl CoreConf {
    pub fn workers(&self) -> usize {
        self.worker_processes.unwrap_or(1)
    }
    pub fn daemon(&self) -> bool {
        self.daemon.unwrap_or(true)
    }
    pub fn master(&self) -> bool {
        self.master_process.unwrap_or(true)
    }
    pub fn pid_path(&self) -> PathBuf {
        self.prefix
            .join(self.pid.clone().unwrap_or_else(|| PathBuf::from("logs/nginx.pid")))
    }
    pub fn worker_connections(&self) -> usize {
        self.worker_connections.unwrap_or(512)
    }
    pub fn error_log(&self) -> (Target, Level) {
        self.error_log
            .clone()
            .unwrap_or_else(|| (Target::File(self.prefix.join("logs/error.log")), Level::Error))
    }
}

fn worker_processes(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let n = match cmd.arg(0) {
        // SAFETY: sysconf has no preconditions.
        "auto" => (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as usize,
        v => match value::number(cmd, v)? {
            0 => return Err(cmd.invalid_value(v, "")),
            n => n as usize,
        },
    };
    set_once(&mut c.worker_processes, n, cmd)
}

fn daemon(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut c.daemon, v, cmd)
}

fn master_process(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = value::flag(cmd, cmd.arg(0))?;
    set_once(&mut c.master_process, v, cmd)
}

fn pid(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    set_once(&mut c.pid, PathBuf::from(cmd.arg(0)), cmd)
}

fn user(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let group = cmd.args.get(1).map(|a| a.value.clone());
    set_once(&mut c.user, (cmd.arg(0).to_string(), group), cmd)
}

fn worker_rlimit_nofile(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = value::number(cmd, cmd.arg(0))?;
    set_once(&mut c.worker_rlimit_nofile, v, cmd)
}

fn worker_shutdown_timeout(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = value::msec(cmd, cmd.arg(0))?;
    set_once(&mut c.worker_shutdown_timeout, Duration::from_millis(v), cmd)
}

/// Parses `error_log FILE|stderr [level]`.
pub fn parse_error_log(prefix: &Path, cmd: &Cmd) -> Result<(Target, Level)> {
    let target = match cmd.arg(0) {
        "stderr" => Target::Stderr,
        f => match f.strip_prefix("syslog:") {
            Some(spec) => Target::Syslog(Arc::new(http::syslog::Syslog::parse(spec).map_err(|m| cmd.error(m))?)),
            None => Target::File(prefix.join(f)),
        },
    };
    let level = match cmd.args.get(1) {
        None => Level::Error,
        Some(l) => Level::parse(&l.value).ok_or_else(|| cmd.error(format!("invalid log level \"{}\"", l.value)))?,
    };
    if cmd.args.len() > 2 {
        return Err(cmd.error(format!("invalid log level \"{}\"", cmd.arg(2))));
    }
    Ok((target, level))
}

fn error_log(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = parse_error_log(&c.prefix, cmd)?;
    // nginx logs to every error_log given; the first one is ours (see docs/compat.md)
    if c.error_log.is_none() {
        c.error_log = Some(v);
    }
    Ok(())
}

/// `load_module path/name.so`: the modules oxiresty has are built in, so a config written
/// for nginx with dynamic modules (Debian's `modules-enabled/*.conf`) loads as it is; a
/// module oxiresty lacks stops the start, naming it.
fn load_module(_c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let path = cmd.arg(0);
    let file = path.rsplit('/').next().unwrap_or(path);
    let name = file.strip_suffix(".so").unwrap_or(file);
    if !crate::modules::built_in(name) {
        return Err(cmd.error(format!(
            "module \"{name}\" is not built into oxiresty, and it loads no modules (load_module \"{path}\")"
        )));
    }
    http::elog!(
        Level::Notice,
        0,
        "module \"{name}\" is built into oxiresty: load_module \"{path}\" has nothing to load in {}",
        cmd.at
    );
    Ok(())
}

fn env(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = cmd.arg(0);
    match v.split_once('=') {
        Some((k, val)) => c.env.push((k.to_string(), Some(val.to_string()))),
        None => c.env.push((v.to_string(), None)),
    }
    Ok(())
}

fn events(c: &mut CoreConf, cmd: &Cmd, reg: &Registry<CoreConf>) -> Result<()> {
    reg.run(c, EVENTS, cmd.children())
}

fn worker_connections(c: &mut CoreConf, cmd: &Cmd) -> Result<()> {
    let v = value::number(cmd, cmd.arg(0))?;
    if v == 0 {
        return Err(cmd.invalid_value(cmd.arg(0), ""));
    }
    set_once(&mut c.worker_connections, v as usize, cmd)
}

fn http(c: &mut CoreConf, cmd: &Cmd, _reg: &Registry<CoreConf>) -> Result<()> {
    if c.http.is_some() {
        return Err(cmd.duplicate());
    }
    let reg = c.http_registry.clone().expect("set by load");
    c.http = Some(Rc::new(http::build(
        &reg,
        crate::modules::HTTP_MODULES,
        &c.prefix,
        &c.conf_dir,
        cmd.children(),
    )?));
    Ok(())
}

fn no_op(_c: &mut CoreConf, _cmd: &Cmd) -> Result<()> {
    Ok(())
}

static CORE: &[Directive<CoreConf>] = &[
    Directive::value("worker_processes", MAIN, Args::Exactly(1), worker_processes),
    Directive::value("daemon", MAIN, Args::Flag, daemon),
    Directive::value("master_process", MAIN, Args::Flag, master_process),
    Directive::value("pid", MAIN, Args::Exactly(1), pid),
    Directive::value("user", MAIN, Args::Range(1, 2), user),
    Directive::value("worker_rlimit_nofile", MAIN, Args::Exactly(1), worker_rlimit_nofile),
    Directive::value(
        "worker_shutdown_timeout",
        MAIN,
        Args::Exactly(1),
        worker_shutdown_timeout,
    ),
    Directive::value("error_log", MAIN, Args::AtLeast(1), error_log),
    Directive::value("env", MAIN, Args::Exactly(1), env),
    Directive::value("load_module", MAIN, Args::Exactly(1), load_module),
    Directive::block("events", MAIN, Args::Block(0, 0), events),
    Directive::block("http", MAIN, Args::Block(0, 0), http),
    Directive::value("worker_connections", EVENTS, Args::Exactly(1), worker_connections),
    Directive::value("accept_mutex", EVENTS, Args::Flag, no_op),
    Directive::value("accept_mutex_delay", EVENTS, Args::Exactly(1), no_op),
    Directive::value("multi_accept", EVENTS, Args::Flag, no_op),
    Directive::value("use", EVENTS, Args::Exactly(1), no_op),
    Directive::value("pcre_jit", MAIN, Args::Flag, no_op),
    Directive::value("timer_resolution", MAIN, Args::Exactly(1), no_op),
    Directive::value("worker_cpu_affinity", MAIN, Args::AtLeast(1), no_op),
    Directive::value("worker_priority", MAIN, Args::Exactly(1), no_op),
    Directive::value("lock_file", MAIN, Args::Exactly(1), no_op),
];

/// Where the configuration text comes from.
pub enum Source {
    File(PathBuf),
    /// The embedded default config (no conf/nginx.conf under the prefix).
    Embedded,
}

pub const DEFAULT_CONF: &str = include_str!("default.conf");

/// Reads and checks a whole configuration (`-g` directives included). `init_by_lua*`
/// runs only for a configuration that will serve: not for `-t`, `-T` or `-s`, as in
/// OpenResty.
pub fn load(prefix: &Path, source: &Source, globals: Option<&str>, serving: bool) -> Result<CoreConf> {
    let (_path, conf_dir, cmds) = match source {
        Source::File(p) => {
            let dir = p.parent().unwrap_or(Path::new("/")).to_path_buf();
            (p.clone(), dir.clone(), conf::parse_file(p, &dir)?)
        }
        Source::Embedded => {
            let p = prefix.join("conf/nginx.conf (embedded default)");
            let dir = prefix.join("conf");
            let c = conf::parse_bytes(DEFAULT_CONF.as_bytes(), &p, &dir)?;
            (p, dir, c)
        }
    };
    lua::vm::begin(prefix).map_err(conf::ConfError::Other)?;
    let mut http_reg = http::registry(crate::modules::HTTP_MODULES);
    let mut core_reg: Registry<CoreConf> = Registry::default();
    core_reg.add(CORE);
    http_reg.know_elsewhere(core_reg.names().collect::<Vec<_>>());
    core_reg.know_elsewhere(http_reg.names().collect::<Vec<_>>());
    let mut core = CoreConf {
        prefix: prefix.to_path_buf(),
        conf_dir: conf_dir.clone(),
        http_registry: Some(Arc::new(http_reg)),
        ..Default::default()
    };
    if let Some(g) = globals {
        let gcmds = conf::parse_bytes(g.as_bytes(), Path::new("command line"), &conf_dir)?;
        core_reg.run(&mut core, MAIN, &gcmds)?;
    }
    core_reg.run(&mut core, MAIN, &cmds)?;
    core.lua = lua::vm::finish();
    if serving && let Some(g) = &core.lua {
        // (before init_by_lua, whose lines are kept too)
        http::log::set_capture(g.capture_error_log);
        lua::set_process_type(if core.master() {
            lua::ProcessType::Master
        } else {
            lua::ProcessType::Single
        });
        let ran = lua::init::run_init(g, &core.env);
        core.privileged_agent = lua::take_agent_request();
        core.quit_requested = lua::take_quit_request();
        ran.map_err(conf::ConfError::Other)?;
    }
    Ok(core)
}
