//! oxiresty: OpenResty rebuilt in Rust. This binary is the nginx-compatible command line and
//! the process model (master, workers); the HTTP core lives in `oxiresty-http`, the config
//! language in `oxiresty-conf`.

mod alloc;
mod cli;
mod core_conf;
mod exports;
mod modules;
mod process;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use http::log::{Level, Target};

use crate::core_conf::Source;

#[global_allocator]
static ALLOCATOR: alloc::MiMalloc = alloc::MiMalloc;

fn emerg(msg: impl std::fmt::Display) {
    eprintln!("oxiresty: [emerg] {msg}");
}

fn main() -> ExitCode {
    // (before anything touches OpenSSL)
    alloc::openssl_to_mimalloc();
    let cli = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("oxiresty: {e}");
            return ExitCode::from(1);
        }
    };
    if cli.help || cli.version || cli.version_full {
        // (the nginx release whose behaviour we follow, in the form tools parse, and our own)
        eprintln!(
            "nginx version: {} (oxiresty {})",
            http::SERVER_FULL,
            http::OXIRESTY_VERSION
        );
        if cli.version_full {
            eprintln!("built with rustc, httparse, pcre2, tokio");
            // modules nginx has that are not here, as nginx's configure would list them
            eprintln!(
                "configure arguments: --prefix={} --without-http_fastcgi_module \
                 --without-http_scgi_module --without-http_uwsgi_module",
                default_prefix().display()
            );
        }
        if cli.help {
            eprint!("\n{}", cli::USAGE);
        }
        return ExitCode::SUCCESS;
    }
    let prefix = cli.prefix.clone().unwrap_or_else(default_prefix);
    let prefix = absolute(&prefix);
    let source = match &cli.conf {
        Some(c) => Source::File(absolute_in(&prefix, c)),
        None => {
            let p = prefix.join("conf/nginx.conf");
            if p.exists() || cli.signal.is_some() {
                Source::File(p)
            } else {
                Source::Embedded
            }
        }
    };
    let conf_name = match &source {
        Source::File(p) => p.display().to_string(),
        Source::Embedded => "(embedded default)".to_string(),
    };
    // Until the config names its own error log, errors go to -e or stderr.
    let early_log = match cli.error_log.as_deref() {
        Some("stderr") | None => Target::Stderr,
        Some(f) => Target::File(absolute_in(&prefix, Path::new(f))),
    };
    if let Err(e) = http::log::open(early_log.clone(), Level::Notice) {
        emerg(format!("open() error log failed ({})", process::errno_text(&e)));
        return ExitCode::from(1);
    }
    let core = match core_conf::load(
        &prefix,
        &source,
        cli.globals.as_deref(),
        !cli.test && cli.signal.is_none(),
    ) {
        Ok(c) => c,
        Err(e) => {
            emerg(&e);
            if early_log != Target::Stderr {
                http::elog!(Level::Emerg, 0, "{e}");
            }
            if cli.test {
                eprintln!("oxiresty: configuration file {conf_name} test failed");
            }
            return ExitCode::from(1);
        }
    };
    if cli.test {
        if !cli.quiet {
            eprintln!("oxiresty: the configuration file {conf_name} syntax is ok");
            eprintln!("oxiresty: configuration file {conf_name} test is successful");
        }
        if cli.dump {
            dump_config(&source);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(sig) = &cli.signal {
        return send_signal(&core.pid_path(), sig);
    }
    // -e wins over the config's error_log, as in nginx.
    let (target, level) = core.error_log();
    let target = if cli.error_log.is_some() { early_log } else { target };
    if let Err(e) = http::log::open(target.clone(), level) {
        emerg(format!(
            "open() \"{}\" failed ({})",
            target_name(&target),
            process::errno_text(&e)
        ));
        return ExitCode::from(1);
    }
    if core.master()
        && let Err(e) = process::resolve_user(&core)
    {
        emerg(&e);
        http::elog!(Level::Emerg, 0, "{e}");
        return ExitCode::from(1);
    }
    if core.master() {
        process::prepare_log_files(&core);
    }
    let mut sockets = process::Sockets::new();
    let groups = match &core.http {
        Some(h) => match process::open_sockets(h, &mut sockets, if core.master() { core.workers() } else { 1 }) {
            Ok(g) => g,
            Err(e) => {
                emerg(&e);
                http::elog!(Level::Emerg, 0, "{e}");
                return ExitCode::from(1);
            }
        },
        None => Vec::new(),
    };
    if core.daemon()
        && let Err(e) = process::daemonize()
    {
        emerg(format!("fork() failed ({e})"));
        return ExitCode::from(1);
    }
    if core.daemon()
        && let Some(fd) = http::log::raw_fd()
    {
        // SAFETY: dup2 onto stderr of a log fd we hold open.
        unsafe { libc::dup2(fd, 2) };
    }
    let pid_path = core.pid_path();
    if let Err(e) = process::write_pid(&pid_path) {
        http::elog!(
            Level::Emerg,
            0,
            "open() \"{}\" failed ({})",
            pid_path.display(),
            process::errno_text(&e)
        );
        return ExitCode::from(1);
    }
    if core.master() {
        process::run_master(core, &prefix, &source, cli.globals.as_deref(), sockets, groups);
    } else {
        if core.quit_requested {
            http::worker::request_graceful_stop();
        }
        process::run_worker(&core, &groups, &sockets, process::Role::Single);
        let _ = std::fs::remove_file(&pid_path);
    }
    ExitCode::SUCCESS
}

/// `-T`: every file the configuration read, as nginx prints them.
fn dump_config(source: &Source) {
    match source {
        Source::File(p) => {
            let dir = p.parent().unwrap_or(Path::new("/"));
            if let Ok((_, files)) = conf::parse_file_tracked(p, dir) {
                for f in files {
                    println!("# configuration file {}:", f.display());
                    println!("{}", std::fs::read_to_string(&f).unwrap_or_default());
                }
            }
        }
        Source::Embedded => {
            println!("# configuration file (embedded default):");
            println!("{}", core_conf::DEFAULT_CONF);
        }
    }
}

fn target_name(t: &Target) -> String {
    match t {
        Target::Stderr => "stderr".into(),
        Target::File(p) => p.display().to_string(),
        Target::Syslog(s) => format!("syslog ({:?})", s.server),
    }
}

fn default_prefix() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        default_prefix().join(p)
    }
}

fn absolute_in(prefix: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        prefix.join(p)
    }
}

fn send_signal(pid_path: &Path, sig: &str) -> ExitCode {
    let text = match std::fs::read_to_string(pid_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "oxiresty: [error] open() \"{}\" failed ({})",
                pid_path.display(),
                process::errno_text(&e)
            );
            return ExitCode::from(1);
        }
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        eprintln!(
            "oxiresty: [error] invalid PID number \"{}\" in \"{}\"",
            text.trim(),
            pid_path.display()
        );
        return ExitCode::from(1);
    };
    let signo = match sig {
        "stop" => libc::SIGTERM,
        "quit" => libc::SIGQUIT,
        "reopen" => libc::SIGUSR1,
        _ => libc::SIGHUP,
    };
    // SAFETY: kill with a pid read from the pid file, as nginx -s does.
    if unsafe { libc::kill(pid, signo) } != 0 {
        let e = std::io::Error::last_os_error();
        eprintln!(
            "oxiresty: [alert] kill({pid}, {signo}) failed ({})",
            process::errno_text(&e)
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
