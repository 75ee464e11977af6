//! The process model: master, workers, daemonising, signals, reload and respawn.
//! The master never starts a thread: it blocks signals and waits for them with sigtimedwait.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use http::config::{HttpConf, ListenAddr};
use http::log::Level;
use http::worker::{ListenGroup, Listener, Stop};

use crate::core_conf::{self, CoreConf, Source};

/// A listening socket: its address, and with `reuseport` the worker slot it serves
/// (each worker then has a socket of its own, as in nginx).
pub type SocketKey = (ListenAddr, Option<usize>);

/// Sockets opened by the master, kept across reloads.
pub type Sockets = HashMap<SocketKey, Listener>;

fn socket_keys(g: &ListenGroup, workers: usize) -> Vec<SocketKey> {
    if g.reuseport {
        (0..workers).map(|slot| (g.addr.clone(), Some(slot))).collect()
    } else {
        vec![(g.addr.clone(), None)]
    }
}

/// The socket worker `slot` accepts on for a group.
fn socket_for<'a>(sockets: &'a Sockets, g: &ListenGroup, slot: usize) -> Option<&'a Listener> {
    sockets.get(&(g.addr.clone(), g.reuseport.then_some(slot)))
}

/// Opens the listening sockets a config needs for `workers` workers, reusing those
/// already open.
pub fn open_sockets(conf: &HttpConf, have: &mut Sockets, workers: usize) -> Result<Vec<Rc<ListenGroup>>, String> {
    let groups = http::worker::listen_groups(conf);
    for g in &groups {
        for key in socket_keys(g, workers) {
            if let std::collections::hash_map::Entry::Vacant(slot) = have.entry(key) {
                let l =
                    http::worker::open(g).map_err(|e| format!("bind() to {} failed ({})", g.addr, errno_text(&e)))?;
                slot.insert(l);
            }
        }
    }
    Ok(groups.into_iter().map(Rc::new).collect())
}

/// Closes the sockets a config no longer uses.
fn close_unused(sockets: &mut Sockets, groups: &[Rc<ListenGroup>], workers: usize) {
    let wanted: Vec<SocketKey> = groups.iter().flat_map(|g| socket_keys(g, workers)).collect();
    sockets.retain(|k, _| wanted.contains(k));
}

pub use conf::errno_text;

fn dup_listener(l: &Listener) -> std::io::Result<Listener> {
    Ok(match l {
        Listener::Tcp(t) => Listener::Tcp(t.try_clone()?),
        Listener::Unix(u) => Listener::Unix(u.try_clone()?),
    })
}

const SIGNALS: [i32; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCHLD,
];

fn sigset() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn block_signals(block: bool) {
    let set = sigset();
    // SAFETY: sigprocmask with a valid set; the process is single-threaded here.
    unsafe {
        libc::sigprocmask(
            if block { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK },
            &set,
            std::ptr::null_mut(),
        );
    }
}

/// What a process the master forks (or the single process) does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// `master_process off`: the one process serves.
    Single,
    /// A worker, by its number among `worker_processes` (ngx.worker.id).
    Worker(usize),
    /// OpenResty's privileged agent: the master's user, no listening sockets; it runs
    /// init_worker_by_lua (and later its timers) and stops with the workers.
    Agent,
}

impl Role {
    /// As nginx names its processes in the error log.
    fn process_name(self) -> &'static str {
        match self {
            Role::Agent => "privileged agent process",
            _ => "worker process",
        }
    }
}

/// Runs one worker's event loop in this process until it is told to stop.
pub fn run_worker(core: &CoreConf, groups: &[Rc<ListenGroup>], sockets: &Sockets, role: Role) {
    let Some(http) = core.http.clone() else {
        http::elog!(Level::Notice, 0, "no \"http\" block: nothing to serve");
        return;
    };
    match role {
        Role::Worker(_) => worker_process_setup(core, true),
        Role::Agent => worker_process_setup(core, false),
        Role::Single => {}
    }
    set_worker_environment(core);
    let mut pairs = Vec::new();
    let slot = match role {
        Role::Worker(slot) => Some(slot),
        Role::Single => Some(0),
        Role::Agent => None,
    };
    for g in groups {
        let Some(slot) = slot else { break };
        if let Some(l) = socket_for(sockets, g, slot) {
            match dup_listener(l) {
                Ok(l) => pairs.push((g.clone(), l)),
                Err(e) => http::elog!(Level::Emerg, 0, "dup() of listener {} failed ({e})", g.addr),
            }
        }
    }
    // a panic in a connection's task ends that connection only; say so in the error log
    std::panic::set_hook(Box::new(|info| {
        http::elog!(Level::Alert, 0, "worker task {info}");
    }));
    // a local runtime: tasks that are not Send (Lua values, Rc) spawn straight onto its
    // scheduler, without a LocalSet's second queue and wake-up in front of every task
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build_local(Default::default())
    {
        Ok(rt) => rt,
        Err(e) => {
            http::elog!(Level::Emerg, 0, "cannot start the event loop: {e}");
            return;
        }
    };
    // the handlers go in before the signals are unblocked: a signal the master sent while
    // this process was starting (a QUIT right after a reload) then waits for them instead
    // of killing the process by its default action
    let signals = {
        let _runtime = rt.enter();
        stop_signals()
    };
    block_signals(false);
    let wc = match role {
        Role::Agent => core.privileged_agent.unwrap_or(0) as usize,
        _ => core.worker_connections(),
    };
    let st = core.worker_shutdown_timeout;
    let (id, count, kind) = match role {
        Role::Worker(s) => (s as i64, core.workers() as i64, lua::ProcessType::Worker),
        Role::Agent => (-1, core.workers() as i64, lua::ProcessType::PrivilegedAgent),
        Role::Single => (0, 1, lua::ProcessType::Single),
    };
    lua::set_worker(id, count);
    lua::set_process_type(kind);
    let lua_gen = core.lua.clone();
    rt.block_on(async move {
        if let Some(g) = &lua_gen {
            lua::init::run_init_worker(g).await;
        }
        // the signals wait in a task of their own, so that the four signal streams are
        // polled when a signal comes, not whenever this future is
        let signals = tokio::task::spawn_local(wait_stop_signal(signals));
        let stop = async { signals.await.unwrap_or(Stop::Fast) };
        http::worker::serve(pairs, http, wc, st, stop).await;
        if let Some(g) = &lua_gen {
            lua::init::run_exit_worker(g);
        }
    });
}

/// TERM, INT, QUIT and USR1, as a worker listens for them.
type StopSignals = [tokio::signal::unix::Signal; 4];

/// Installs the worker's signal handlers (inside its runtime).
fn stop_signals() -> Option<StopSignals> {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::quit(),
        SignalKind::user_defined1(),
    ];
    match kinds.map(signal) {
        [Ok(term), Ok(int), Ok(quit), Ok(usr1)] => Some([term, int, quit, usr1]),
        _ => {
            http::elog!(Level::Alert, 0, "cannot install signal handlers");
            None
        }
    }
}

/// Resolves on TERM/INT (fast) or QUIT (graceful); USR1 reopens logs meanwhile.
async fn wait_stop_signal(signals: Option<StopSignals>) -> Stop {
    let Some([mut term, mut int, mut quit, mut usr1]) = signals else {
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return Stop::Fast,
            _ = int.recv() => return Stop::Fast,
            _ = quit.recv() => return Stop::Graceful,
            _ = usr1.recv() => {
                let _ = http::log::reopen();
                http::modules::log::reopen_all();
            }
        }
    }
}

/// The unprivileged user workers run as (`user`), when the master runs as root.
pub struct WorkerUser {
    pub name: std::ffi::CString,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// Resolves `user name [group]` (default `nobody`); `Ok(None)` when not root or `user root`.
pub fn resolve_user(core: &CoreConf) -> Result<Option<WorkerUser>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let (user, group) = core.user.clone().unwrap_or(("nobody".into(), None));
    if user == "root" {
        return Ok(None);
    }
    let name = std::ffi::CString::new(user.clone()).map_err(|_| format!("invalid user \"{user}\""))?;
    // SAFETY: getpwnam returns a pointer into static storage or null; read before next call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(format!("getpwnam(\"{user}\") failed"));
    }
    // SAFETY: pw is non-null and points at a valid passwd entry.
    let (uid, mut gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    if let Some(g) = group {
        let cg = std::ffi::CString::new(g.clone()).map_err(|_| format!("invalid group \"{g}\""))?;
        // SAFETY: as getpwnam.
        let gr = unsafe { libc::getgrnam(cg.as_ptr()) };
        if gr.is_null() {
            return Err(format!("getgrnam(\"{g}\") failed"));
        }
        // SAFETY: gr is non-null.
        gid = unsafe { (*gr).gr_gid };
    }
    Ok(Some(WorkerUser { name, uid, gid }))
}

fn core_user(core: &CoreConf) -> Option<WorkerUser> {
    resolve_user(core).ok().flatten()
}

/// Creates the log files (and the temp-file directories) in the master and hands them to
/// the worker user, so that workers, once unprivileged, can open and reopen them (nginx
/// chowns them likewise).
pub fn prepare_log_files(core: &CoreConf) {
    let user = core_user(core);
    let mut paths: Vec<std::path::PathBuf> = core
        .http
        .as_ref()
        .map(|h| http::modules::log::paths(h))
        .unwrap_or_default();
    if let (http::log::Target::File(p), _) = core.error_log() {
        paths.push(p);
    }
    // temp-file directories too, private to the worker user (0700, as nginx makes them)
    for dir in core.http.as_ref().map(|h| h.all_temp_dirs()).unwrap_or_default() {
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir) {
            http::elog!(
                Level::Emerg,
                0,
                "mkdir() \"{}\" failed ({})",
                dir.display(),
                errno_text(&e)
            );
            continue;
        }
        if let Some(u) = &user
            && let Err(e) = std::os::unix::fs::chown(&dir, Some(u.uid), None)
        {
            http::elog!(
                Level::Emerg,
                0,
                "chown(\"{}\", {}) failed ({})",
                dir.display(),
                u.uid,
                errno_text(&e)
            );
        }
    }
    for p in paths {
        if let Err(e) = std::fs::OpenOptions::new().create(true).append(true).open(&p) {
            http::elog!(
                Level::Alert,
                0,
                "open() \"{}\" failed ({})",
                p.display(),
                errno_text(&e)
            );
            continue;
        }
        if let Some(u) = &user
            && let Err(e) = std::os::unix::fs::chown(&p, Some(u.uid), None)
        {
            http::elog!(
                Level::Alert,
                0,
                "chown(\"{}\", {}) failed ({})",
                p.display(),
                u.uid,
                errno_text(&e)
            );
        }
    }
}

/// The environment a worker sees, as nginx builds it: only the variables named by `env`
/// (with their value from `env NAME=value`, else inherited) and TZ.
pub fn worker_environment(
    listed: &[(String, Option<String>)],
    current: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let current: Vec<(String, String)> = current.collect();
    let inherited = |name: &str| current.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut out: Vec<(String, String)> = Vec::new();
    let names = std::iter::once(("TZ".to_string(), None)).chain(listed.iter().cloned());
    for (name, value) in names {
        let Some(v) = value.or_else(|| inherited(&name)) else {
            continue;
        };
        match out.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = v,
            None => out.push((name, v)),
        }
    }
    out
}

fn set_worker_environment(core: &CoreConf) {
    let keep = worker_environment(&core.env, std::env::vars());
    for (k, _) in std::env::vars() {
        // SAFETY: the worker is single-threaded here: its runtime is not built yet.
        unsafe { std::env::remove_var(k) };
    }
    for (k, v) in keep {
        // SAFETY: as above.
        unsafe { std::env::set_var(k, v) };
    }
}

/// rlimit and, for a worker, privileges (the privileged agent keeps the master's user).
fn worker_process_setup(core: &CoreConf, drop_privileges: bool) {
    if let Some(n) = core.worker_rlimit_nofile {
        let lim = libc::rlimit {
            rlim_cur: n as libc::rlim_t,
            rlim_max: n as libc::rlim_t,
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            http::elog!(
                Level::Alert,
                0,
                "setrlimit(RLIMIT_NOFILE, {n}) failed ({})",
                errno_text(&std::io::Error::last_os_error())
            );
        }
    }
    if !drop_privileges {
        return;
    }
    let Some(u) = &core_user(core) else { return };
    // SAFETY: plain syscalls dropping privileges; failure is checked.
    unsafe {
        if libc::setgid(u.gid) != 0 || libc::initgroups(u.name.as_ptr(), u.gid) != 0 || libc::setuid(u.uid) != 0 {
            http::elog!(
                Level::Emerg,
                0,
                "setuid/setgid to \"{}\" failed ({})",
                u.name.to_string_lossy(),
                errno_text(&std::io::Error::last_os_error())
            );
            std::process::exit(2);
        }
    }
}

/// Detaches from the terminal (daemon on). Returns in the child only.
pub fn daemonize() -> std::io::Result<()> {
    // SAFETY: fork in a single-threaded process; the parent exits at once.
    match unsafe { libc::fork() } {
        -1 => return Err(std::io::Error::last_os_error()),
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: setsid in the child; stdin/stdout go to /dev/null.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

pub fn write_pid(path: &Path) -> std::io::Result<()> {
    std::fs::write(path, format!("{}\n", std::process::id()))
}

struct Worker {
    pid: i32,
    role: Role,
    generation: u32,
    exiting: bool,
}

fn spawn_worker(
    core: &CoreConf,
    groups: &[Rc<ListenGroup>],
    sockets: &Sockets,
    generation: u32,
    role: Role,
) -> Option<Worker> {
    let what = role.process_name();
    // SAFETY: fork in the single-threaded master; the child runs the worker and exits.
    match unsafe { libc::fork() } {
        -1 => {
            http::elog!(
                Level::Alert,
                0,
                "fork() failed while spawning \"{what}\" ({})",
                errno_text(&std::io::Error::last_os_error())
            );
            None
        }
        0 => {
            if role == Role::Agent {
                close_listeners(sockets);
            }
            run_worker(core, groups, sockets, role);
            http::elog!(Level::Notice, 0, "exit");
            std::process::exit(0);
        }
        pid => {
            http::elog!(Level::Notice, 0, "start {what} {pid}");
            Some(Worker {
                pid,
                role,
                generation,
                exiting: false,
            })
        }
    }
}

/// The privileged agent holds no listening socket (as nginx's, so that a port it does not
/// serve is not kept open by it).
fn close_listeners(sockets: &Sockets) {
    use std::os::fd::AsRawFd;
    for l in sockets.values() {
        let fd = match l {
            Listener::Tcp(t) => t.as_raw_fd(),
            Listener::Unix(u) => u.as_raw_fd(),
        };
        // SAFETY: in the forked agent, which never uses these listeners and leaves by
        // process::exit without dropping the master's copies of them.
        unsafe { libc::close(fd) };
    }
}

/// A configuration's processes: its workers, then the privileged agent if its
/// init_by_lua asked for one.
fn spawn_all(core: &CoreConf, groups: &[Rc<ListenGroup>], sockets: &Sockets, generation: u32) -> Vec<Worker> {
    let mut roles: Vec<Role> = (0..core.workers()).map(Role::Worker).collect();
    match core.privileged_agent {
        Some(0) => http::elog!(
            Level::Error,
            0,
            "0 worker_connection is not enough, privileged agent process cannot be spawned"
        ),
        Some(_) => roles.push(Role::Agent),
        None => {}
    }
    roles
        .into_iter()
        .filter_map(|role| spawn_worker(core, groups, sockets, generation, role))
        .collect()
}

/// QUIT to the master itself (blocked, so it waits for its loop's sigtimedwait): what
/// `signal_graceful_exit()` in init_by_lua leads to.
fn quit_self() {
    kill(std::process::id() as i32, libc::SIGQUIT);
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill on a child pid we spawned, or on this process.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The master loop: spawn workers, then react to signals until stopped.
pub fn run_master(
    mut core: CoreConf,
    prefix: &Path,
    source: &Source,
    globals: Option<&str>,
    mut sockets: Sockets,
    mut groups: Vec<Rc<ListenGroup>>,
) {
    block_signals(true);
    let mut generation = 0u32;
    let mut workers = spawn_all(&core, &groups, &sockets, generation);
    if core.quit_requested {
        quit_self();
    }
    let mut stopping: Option<i32> = None;
    let set = sigset();
    loop {
        let ts = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        // SAFETY: sigtimedwait with our blocked set; info is written by the kernel.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigtimedwait(&set, &mut info, &ts)
        };
        reap(&mut workers, stopping.is_some(), generation, &core, &groups, &sockets);
        if stopping.is_some() && workers.is_empty() {
            break;
        }
        match sig {
            libc::SIGTERM | libc::SIGINT => {
                http::elog!(Level::Notice, 0, "signal {sig} received, exiting");
                stopping = Some(libc::SIGTERM);
                for w in &workers {
                    kill(w.pid, libc::SIGTERM);
                }
            }
            libc::SIGQUIT => {
                http::elog!(Level::Notice, 0, "signal {sig} received, shutting down");
                stopping = Some(libc::SIGQUIT);
                for w in &workers {
                    kill(w.pid, libc::SIGQUIT);
                }
            }
            libc::SIGUSR1 => {
                http::elog!(Level::Notice, 0, "signal {sig} received, reopening logs");
                let _ = http::log::reopen();
                prepare_log_files(&core);
                for w in &workers {
                    kill(w.pid, libc::SIGUSR1);
                }
            }
            libc::SIGHUP if stopping.is_none() => {
                http::elog!(Level::Notice, 0, "signal {sig} received, reconfiguring");
                match reload(prefix, source, globals, &mut sockets) {
                    Ok((new_core, new_groups)) => {
                        core = new_core;
                        groups = new_groups;
                        let (t, l) = core.error_log();
                        let _ = http::log::open(t, l);
                        prepare_log_files(&core);
                        generation += 1;
                        for w in workers.iter_mut() {
                            w.exiting = true;
                            kill(w.pid, libc::SIGQUIT);
                        }
                        // close sockets the new config no longer listens on, before the new
                        // workers are forked, so that only the old workers still hold them
                        close_unused(&mut sockets, &groups, core.workers());
                        workers.extend(spawn_all(&core, &groups, &sockets, generation));
                        if core.quit_requested {
                            quit_self();
                        }
                    }
                    Err(e) => http::elog!(Level::Emerg, 0, "{e}"),
                }
            }
            _ => {}
        }
    }
    let _ = std::fs::remove_file(core.pid_path());
    http::elog!(Level::Notice, 0, "exit");
}

fn reload(
    prefix: &Path,
    source: &Source,
    globals: Option<&str>,
    sockets: &mut Sockets,
) -> Result<(CoreConf, Vec<Rc<ListenGroup>>), String> {
    let core = core_conf::load(prefix, source, globals, true).map_err(|e| e.to_string())?;
    let groups = match &core.http {
        Some(h) => open_sockets(h, sockets, core.workers())?,
        None => Vec::new(),
    };
    Ok((core, groups))
}

fn reap(
    workers: &mut Vec<Worker>,
    stopping: bool,
    generation: u32,
    core: &CoreConf,
    groups: &[Rc<ListenGroup>],
    sockets: &Sockets,
) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own children, non-blocking.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
        let Some(i) = workers.iter().position(|w| w.pid == pid) else {
            continue;
        };
        let w = workers.remove(i);
        if libc::WIFSIGNALED(status) {
            http::elog!(
                Level::Alert,
                0,
                "{} {pid} exited on signal {}",
                w.role.process_name(),
                libc::WTERMSIG(status)
            );
        } else {
            let code = libc::WEXITSTATUS(status);
            let lvl = if code == 0 { Level::Notice } else { Level::Alert };
            http::elog!(lvl, 0, "{} {pid} exited with code {code}", w.role.process_name());
        }
        let expected = stopping || w.exiting || w.generation != generation;
        if !expected && let Some(nw) = spawn_worker(core, groups, sockets, generation, w.role) {
            workers.push(nw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::worker_environment;

    #[test]
    fn workers_see_only_listed_variables_and_tz() {
        let current = [("PATH", "/bin"), ("TZ", "UTC"), ("HOME", "/root"), ("KEEP", "1")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let listed = vec![
            ("KEEP".to_string(), None),
            ("NEW".to_string(), Some("x".to_string())),
            ("GONE".to_string(), None),
        ];
        let env = worker_environment(&listed, current.into_iter());
        assert_eq!(
            env,
            [("TZ", "UTC"), ("KEEP", "1"), ("NEW", "x")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let over = vec![("TZ".to_string(), Some("Europe/Paris".to_string()))];
        let env = worker_environment(&over, [("TZ".to_string(), "UTC".to_string())].into_iter());
        assert_eq!(env, [("TZ".to_string(), "Europe/Paris".to_string())]);
    }
}
