//! The process model and the command line, driven from outside: master/worker lifecycle,
//! signals (stop, quit, reload, reopen), respawn, daemon mode, the connection cap.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oxiresty");

/// The redis-server and Debian Lua libraries some tests use (shared with the spec runner).
#[path = "spec/services.rs"]
#[allow(dead_code)]
mod services;

static PORT: AtomicU16 = AtomicU16::new(0);

fn port() -> u16 {
    if PORT.load(Ordering::Relaxed) == 0 {
        let base = 30_000 - (std::process::id() % 2000) as u16 * 2;
        let _ = PORT.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed);
    }
    loop {
        let p = PORT.fetch_sub(1, Ordering::Relaxed);
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

struct Prefix {
    dir: PathBuf,
}

impl Prefix {
    fn new(name: &str) -> Prefix {
        let dir = std::env::temp_dir().join(format!("oxr-proc-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::create_dir_all(dir.join("html")).unwrap();
        Prefix { dir }
    }
    fn conf(&self, text: &str) {
        std::fs::write(self.dir.join("conf/nginx.conf"), text).unwrap();
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
    }
    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("logs/nginx.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("-p").arg(format!("{}/", self.dir.display()));
        c
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            signal(pid, 9);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(pid: i32, sig: i32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    // SAFETY: kill(2) on a pid this test started.
    unsafe { kill(pid, sig) };
}

fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn get(port: u16, path: &str) -> Option<String> {
    fetch(port, path).ok()
}

/// A GET with `Connection: close`, read to the end; the error says what went wrong.
fn fetch(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The body of a response read to its end (chunked framing decoded).
fn body(resp: &str) -> String {
    let Some((head, b)) = resp.split_once("\r\n\r\n") else {
        return String::new();
    };
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return b.to_string();
    }
    let mut out = String::new();
    let mut rest = b;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn master_conf(port: u16, workers: usize, text: &str, extra_main: &str) -> String {
    format!(
        "worker_processes {workers};\ndaemon off;\nmaster_process on;\nerror_log logs/error.log info;\n{extra_main}\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n server {{\n  listen 127.0.0.1:{port};\n  location / {{ return 200 \"{text}\\n\"; }}\n }}\n}}\n"
    )
}

fn start_master(p: &Prefix) -> Child {
    let child = p.cmd().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until("pid file", Duration::from_secs(5), || p.pid().is_some());
    child
}

fn worker_pids(master: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        if fields.get(1).and_then(|pp| pp.parse::<i32>().ok()) == Some(master) && fields.first() != Some(&"Z") {
            out.push(pid);
        }
    }
    out.sort();
    out
}

#[test]
fn master_spawns_workers_and_respawns_a_dead_one() {
    let p = Prefix::new("respawn");
    let port = port();
    p.conf(&master_conf(port, 2, "v1", ""));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("two workers", Duration::from_secs(5), || worker_pids(master).len() == 2);
    assert_eq!(body(&get(port, "/").unwrap()), "v1\n");
    let victim = worker_pids(master)[0];
    signal(victim, 9);
    wait_until("respawn", Duration::from_secs(5), || {
        let w = worker_pids(master);
        w.len() == 2 && !w.contains(&victim)
    });
    assert!(
        p.log().contains(&format!("worker process {victim} exited on signal 9")),
        "{}",
        p.log()
    );
    assert_eq!(body(&get(port, "/").unwrap()), "v1\n");
    signal(master, 15);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(!p.dir.join("logs/nginx.pid").exists(), "pid file removed at exit");
}

#[test]
fn reload_applies_a_new_config_and_keeps_the_old_on_error() {
    let p = Prefix::new("reload");
    let port = port();
    p.conf(&master_conf(port, 1, "v1", ""));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    assert_eq!(body(&get(port, "/").unwrap()), "v1\n");
    p.conf(&master_conf(port, 1, "v2", ""));
    signal(master, 1);
    wait_until("new config served", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| body(&r) == "v2\n")
    });
    wait_until("one worker after reload", Duration::from_secs(5), || {
        worker_pids(master).len() == 1
    });
    // a broken config: keep serving v2 and say why
    p.conf("worker_processes 1;\nhttp { bogus_directive; }\n");
    signal(master, 1);
    wait_until("reload error logged", Duration::from_secs(5), || {
        p.log().contains("unknown directive \"bogus_directive\"")
    });
    assert_eq!(body(&get(port, "/").unwrap()), "v2\n");
    assert!(p.log().contains("[emerg]"));
    signal(master, 3);
    assert!(child.wait().unwrap().success());
}

/// A reload reads the files proxy_ssl_* name again: the master checks them at start
/// but keeps no context made from them, so a renewed CA file takes effect on HUP.
#[test]
fn reload_reads_upstream_tls_files_again() {
    let p = Prefix::new("reload-upstream-tls");
    let (port, upstream) = (port(), port());
    let certs = cert_dir();
    let trusted = p.dir.join("trusted.pem");
    std::fs::copy(format!("{certs}/other-ca.crt"), &trusted).unwrap();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nmaster_process on;\nerror_log logs/error.log info;\n\
         events {{ worker_connections 64; }}\nhttp {{\n access_log off;\n\
         server {{ listen 127.0.0.1:{upstream} ssl; ssl_certificate {certs}/test-rsa.crt; \
         ssl_certificate_key {certs}/test-rsa.key; return 200 \"in\\n\"; }}\n\
         server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass https://127.0.0.1:{upstream}; \
         proxy_ssl_verify on; proxy_ssl_name test.com; proxy_ssl_trusted_certificate {}; }} }}\n}}\n",
        trusted.display()
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("served", Duration::from_secs(5), || get(port, "/").is_some());
    let first = get(port, "/").unwrap();
    assert!(first.starts_with("HTTP/1.1 502"), "another CA: {first}");
    std::fs::copy(format!("{certs}/ca.crt"), &trusted).unwrap();
    signal(master, 1);
    wait_until("the renewed CA file used", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| r.starts_with("HTTP/1.1 200") && body(&r) == "in\n")
    });
    signal(master, 3);
    assert!(child.wait().unwrap().success());
}

#[test]
fn usr1_reopens_the_error_log() {
    let p = Prefix::new("reopen");
    let port = port();
    p.conf(&master_conf(port, 1, "ok", ""));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    let log = p.dir.join("logs/error.log");
    wait_until("startup line", Duration::from_secs(5), || {
        p.log().contains("start worker process")
    });
    std::fs::rename(&log, p.dir.join("logs/error.log.1")).unwrap();
    signal(master, 10);
    wait_until("a new error.log", Duration::from_secs(5), || log.exists());
    signal(master, 3);
    assert!(child.wait().unwrap().success());
    assert!(p.log().contains("exit"), "new log gets later lines: {}", p.log());
}

#[test]
fn quit_lets_a_slow_download_finish() {
    let p = Prefix::new("quit");
    let port = port();
    let big = vec![b'x'; 8 << 20];
    std::fs::write(p.dir.join("html/big.bin"), &big).unwrap();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ root html; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 1024];
    let n = s.read(&mut first).unwrap();
    assert!(n > 0);
    signal(master, 3);
    std::thread::sleep(Duration::from_millis(300));
    let mut rest = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.read_to_end(&mut rest).unwrap();
    let total = n + rest.len();
    let head_len = {
        let mut all = first[..n].to_vec();
        all.extend_from_slice(&rest);
        all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
    };
    assert_eq!(total - head_len, big.len(), "the whole file arrived after QUIT");
    assert!(child.wait().unwrap().success());
}

#[test]
fn term_stops_at_once() {
    let p = Prefix::new("term");
    let port = port();
    p.conf(&master_conf(port, 2, "ok", ""));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    // an idle keepalive connection must not hold a fast stop
    let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let t = Instant::now();
    signal(master, 15);
    assert!(child.wait().unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn daemon_and_signal_commands() {
    let p = Prefix::new("daemon");
    let port = port();
    p.conf(&master_conf(port, 1, "d1", "").replace("daemon off;", "daemon on;"));
    let out = p.cmd().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("pid file", Duration::from_secs(5), || p.pid().is_some());
    let pid = p.pid().unwrap();
    assert_eq!(body(&get(port, "/").unwrap()), "d1\n");
    p.conf(&master_conf(port, 1, "d2", "").replace("daemon off;", "daemon on;"));
    assert!(p.cmd().args(["-s", "reload"]).status().unwrap().success());
    wait_until("reloaded", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| body(&r) == "d2\n")
    });
    assert!(p.cmd().args(["-s", "reopen"]).status().unwrap().success());
    assert!(p.cmd().args(["-s", "quit"]).status().unwrap().success());
    wait_until("daemon exit", Duration::from_secs(5), || !alive(pid));
    let out = p.cmd().args(["-s", "stop"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[error] open() \"") && err.contains("nginx.pid\" failed (2: No such file or directory)"),
        "{err}"
    );
}

#[test]
fn worker_connections_is_a_real_cap() {
    let p = Prefix::new("cap");
    let port = port();
    p.conf(&master_conf(port, 1, "ok", "").replace("worker_connections 64", "worker_connections 3"));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    let held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = write!(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    let _ = extra.read_to_end(&mut buf);
    assert!(buf.is_empty(), "an excess connection is closed without a response");
    wait_until("alert", Duration::from_secs(3), || {
        p.log().contains("3 worker_connections are not enough")
    });
    drop(held);
    wait_until("serving again", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| body(&r) == "ok\n")
    });
    signal(master, 15);
    assert!(child.wait().unwrap().success());
}

#[test]
fn workers_drop_privileges_and_set_rlimit() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("not root: checking only that workers keep our uid");
    }
    let p = Prefix::new("user");
    let port = port();
    p.conf(&master_conf(port, 1, "ok", "user nobody;\nworker_rlimit_nofile 4321;"));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    // a worker that answers has set itself up (privileges dropped, limits set): a pid
    // alone may be seen between fork and setuid
    wait_until("worker serving", Duration::from_secs(5), || {
        worker_pids(master).len() == 1 && get(port, "/").is_some_and(|r| body(&r) == "ok\n")
    });
    let w = worker_pids(master)[0];
    let status = std::fs::read_to_string(format!("/proc/{w}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_string();
    let limits = std::fs::read_to_string(format!("/proc/{w}/limits")).unwrap();
    let nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    signal(master, 15);
    child.wait().unwrap();
    // SAFETY: as above.
    if unsafe { libc_geteuid() } == 0 {
        assert!(
            !uid_line.split_whitespace().skip(1).any(|u| u == "0"),
            "worker still root: {uid_line}"
        );
    }
    assert!(nofile.contains("4321"), "{nofile}");
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn quit_closes_idle_keepalive_connections_at_once() {
    let p = Prefix::new("quitidle");
    let port = port();
    p.conf(&master_conf(port, 1, "idle", ""));
    let mut child = start_master(&p);
    // three connections that served a request each and now sit idle (keepalive 75 s),
    // one of them after another had closed (its slot is reused)
    let ask = |s: &mut TcpStream| {
        write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("idle\n"));
    };
    let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    ask(&mut gone);
    drop(gone);
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for s in &mut idle {
        ask(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    signal(child.id() as i32, 3);
    for s in &mut idle {
        let (rest, took) = read_until_close(s, Duration::from_secs(5));
        assert!(rest.is_empty(), "nothing more is sent");
        assert!(took < Duration::from_secs(2), "closed at once on QUIT, took {took:?}");
    }
    assert!(child.wait().unwrap().success());
}

#[test]
fn single_process_mode_serves_and_stops_on_quit() {
    let p = Prefix::new("single");
    let port = port();
    p.conf(&master_conf(port, 4, "single", "").replace("master_process on;", "master_process off;"));
    let mut child = start_master(&p);
    assert_eq!(body(&get(port, "/").unwrap()), "single\n");
    assert!(worker_pids(child.id() as i32).is_empty(), "no worker processes");
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
}

#[test]
fn cli_version_help_and_test() {
    let t = Instant::now();
    let out = Command::new(BIN).arg("-V").output().unwrap();
    assert!(t.elapsed() < Duration::from_millis(500));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("nginx version: oxiresty/"), "{err}");
    assert!(
        err.contains("built with") && err.contains("configure arguments:"),
        "{err}"
    );
    let out = Command::new(BIN).arg("-v").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).lines().count() == 1);
    let out = Command::new(BIN).arg("-h").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("-s signal"));
    let out = Command::new(BIN).arg("-x").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid option: \"x\""));

    let p = Prefix::new("cli");
    p.conf("events {}\nhttp { server { listen 127.0.0.1:1; } }\n");
    let out = p.cmd().arg("-t").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        err.contains("syntax is ok") && err.contains("test is successful"),
        "{err}"
    );
    let out = p.cmd().arg("-tq").output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty());
    std::fs::write(p.dir.join("conf/extra.conf"), "# the included file\n").unwrap();
    p.conf("events {}\nhttp { include extra.conf; server { listen 127.0.0.1:1; } }\n");
    let out = p.cmd().arg("-T").output().unwrap();
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(
        dump.contains("listen 127.0.0.1:1") && dump.contains("# the included file"),
        "{dump}"
    );
    assert!(
        dump.contains("# configuration file ") && dump.contains("extra.conf:"),
        "{dump}"
    );
    // -g adds main-level directives; a duplicate with the file is an error, as in nginx
    let out = p.cmd().args(["-t", "-g", "worker_processes 3;"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    p.conf("worker_processes 2;\nevents {}\n");
    let out = p.cmd().args(["-t", "-g", "worker_processes 3;"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"worker_processes\" directive is duplicate"));
    p.conf("events {}\nbogus;\n");
    let out = p.cmd().arg("-t").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("oxiresty: [emerg] unknown directive \"bogus\" in ") && err.contains("nginx.conf:2"),
        "{err}"
    );
    assert!(err.contains("test failed"), "{err}");
    // -c relative to the prefix, -e to another file
    std::fs::write(p.dir.join("conf/other.conf"), "bad_one;\n").unwrap();
    let out = p
        .cmd()
        .args(["-c", "conf/other.conf", "-e", "logs/e2.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e2 = std::fs::read_to_string(p.dir.join("logs/e2.log")).unwrap_or_default();
    assert!(
        e2.contains("[emerg]") && e2.contains("unknown directive \"bad_one\""),
        "{e2}"
    );
}

#[test]
fn embedded_default_config_without_a_conf_file() {
    let dir = std::env::temp_dir().join(format!("oxr-proc-{}-embedded", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(BIN).arg("-p").arg(&dir).arg("-t").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("embedded default"));
    // it serves the welcome page and the Lua example on 127.0.0.1:8080
    assert!(
        std::net::TcpListener::bind("127.0.0.1:8080").is_ok(),
        "port 8080 is taken: the embedded default config cannot be checked"
    );
    let mut child = Command::new(BIN)
        .arg("-p")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("port 8080", Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", 8080)).is_ok()
    });
    let (page, lua) = (fetch(8080, "/"), fetch(8080, "/lua"));
    // stopped before any assertion, so that a failure leaves no server behind
    signal(child.id() as i32, 15);
    child.wait().unwrap();
    let page = page.expect("GET / from the embedded default config");
    assert!(page.contains("Welcome to oxiresty!"), "{page}");
    let lua = body(&lua.expect("GET /lua from the embedded default config"));
    assert!(lua.starts_with("hello from Lua, 127.0.0.1 at "), "{lua}");
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// Reads until the server closes; returns the bytes and how long the close took.
fn read_until_close(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (out, t.elapsed())
}

#[test]
fn idle_timeouts_close_connections() {
    let p = Prefix::new("timeouts");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off; keepalive_timeout 300ms; client_header_timeout 400ms;\n server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    // keepalive_timeout: a second request after the timeout finds the connection closed
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (out, took) = read_until_close(&mut s, Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&out).ends_with("ok\n"));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "closed after {took:?}"
    );
    // busy keepalive connections keep their timeout fresh: 6 requests over ~600ms stay open
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..6 {
        write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    // client_header_timeout: an unfinished head is dropped, and logged
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost").unwrap();
    let (out, took) = read_until_close(&mut s, Duration::from_secs(5));
    assert!(out.is_empty());
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "closed after {took:?}"
    );
    // a connection that sends nothing at all
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_, took) = read_until_close(&mut s, Duration::from_secs(5));
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    signal(child.id() as i32, 15);
    child.wait().unwrap();
    let log = p.log();
    assert!(
        log.contains("client timed out (110: Connection timed out) while reading client request headers"),
        "{log}"
    );
    assert!(log.contains("while waiting for request"), "{log}");
}

#[test]
fn listen_on_unix_socket_and_ipv6() {
    let p = Prefix::new("unix");
    let port = port();
    let sock = p.dir.join("logs/http.sock");
    let v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let v6_listen = if v6 {
        format!("listen [::1]:{port};")
    } else {
        String::new()
    };
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n server {{ listen unix:{}; listen 127.0.0.1:{port} backlog=16 reuseport; {v6_listen} location / {{ return 200 \"$remote_addr\\n\"; }} }} }}\n",
        sock.display()
    ));
    let mut child = start_master(&p);
    let mut u = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    write!(u, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    u.read_to_string(&mut out).unwrap();
    assert!(out.ends_with("\r\n\r\nunix:\n"), "{out}");
    assert_eq!(body(&get(port, "/").unwrap()), "127.0.0.1\n");
    if v6 {
        let mut s = TcpStream::connect(("::1", port)).unwrap();
        write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.ends_with("::1\n"), "{out}");
    } else {
        eprintln!("no IPv6 loopback here: the [::1] listener was not exercised");
    }
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

#[test]
fn reload_moves_to_a_new_port() {
    let p = Prefix::new("reload-port");
    let (a, b) = (port(), port());
    p.conf(&master_conf(a, 1, "on a", ""));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    assert_eq!(body(&get(a, "/").unwrap()), "on a\n");
    p.conf(&master_conf(b, 1, "on b", ""));
    signal(master, 1);
    wait_until("new port", Duration::from_secs(5), || {
        get(b, "/").is_some_and(|r| body(&r) == "on b\n")
    });
    wait_until("old port closed", Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", a)).is_err()
    });
    signal(master, 15);
    child.wait().unwrap();
}

#[test]
fn worker_shutdown_timeout_ends_a_stuck_download() {
    let p = Prefix::new("shutdown-timeout");
    let port = port();
    std::fs::write(p.dir.join("html/big.bin"), vec![b'x'; 32 << 20]).unwrap();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nworker_shutdown_timeout 300ms;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ root html; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    // a client that reads nothing keeps its download stuck
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    signal(master, 3);
    assert!(child.wait().unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(3), "stopped after {:?}", t.elapsed());
    assert!(p.log().contains("worker_shutdown_timeout expired"), "{}", p.log());
}

#[test]
fn usr1_reopens_access_logs() {
    let p = Prefix::new("reopen-access");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log logs/access.log; server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    assert!(get(port, "/first").is_some());
    let log = p.dir.join("logs/access.log");
    wait_until("first line", Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("/first"))
    });
    std::fs::rename(&log, p.dir.join("logs/access.log.1")).unwrap();
    signal(master, 10);
    std::thread::sleep(Duration::from_millis(300));
    assert!(get(port, "/second").is_some());
    wait_until("second line in a new file", Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("/second") && !t.contains("/first"))
    });
    signal(master, 3);
    assert!(child.wait().unwrap().success());
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn malformed_input_never_kills_a_worker() {
    let p = Prefix::new("garbage");
    let port = port();
    std::fs::write(p.dir.join("html/f.txt"), "file\n").unwrap();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{ access_log off; client_header_timeout 300ms; client_body_timeout 300ms;\n server {{ listen 127.0.0.1:{port}; location / {{ root html; }} location = /r {{ return 200 \"$uri $args $http_x\\n\"; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    let seeds: &[&[u8]] = &[
        b"GET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /r?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nIf-None-Match: \"x\"\r\n\r\n",
        b"GET /%2e%2e/r HTTP/1.0\r\nX: y\r\n\r\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let specials = b"\r\n :%/?#\0\x7f\xff;,\"\\.-";
    for round in 0..600 {
        let mut req = seeds[round % seeds.len()].to_vec();
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(req.len());
            match rng.below(5) {
                0 => req[at] = rng.next() as u8,
                1 => req[at] = specials[rng.below(specials.len())],
                2 => {
                    req.truncate(at.max(1));
                }
                3 => {
                    let piece: Vec<u8> = (0..rng.below(40))
                        .map(|_| specials[rng.below(specials.len())])
                        .collect();
                    req.splice(at..at, piece);
                }
                _ => {
                    let n = rng.below(9000);
                    req.splice(at..at, std::iter::repeat_n(b'a', n));
                }
            }
        }
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        s.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
        let _ = s.write_all(&req);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        // (a request line without a version is HTTP/0.9, answered with a bare body)
        let first_line = req.split(|&c| c == b'\n').next().unwrap_or(&req);
        let http09 = first_line.split(|&c| c == b' ').filter(|w| !w.is_empty()).count() == 2;
        if !sink.is_empty() && !http09 {
            assert!(
                sink.starts_with(b"HTTP/1.1 "),
                "round {round}: not a response to {:?}: {:?}",
                String::from_utf8_lossy(&req[..req.len().min(60)]),
                String::from_utf8_lossy(&sink[..sink.len().min(80)])
            );
        }
    }
    assert_eq!(body(&get(port, "/r?z=1").unwrap()), "/r z=1 \n");
    let log = p.log();
    assert!(!log.contains("exited on signal") && !log.contains("panicked"), "{log}");
    signal(master, 3);
    assert!(child.wait().unwrap().success());
}

#[test]
fn send_timeout_drops_a_client_that_stops_reading() {
    let p = Prefix::new("send-timeout");
    let port = port();
    std::fs::write(p.dir.join("html/big.bin"), vec![b'x'; 16 << 20]).unwrap();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off; send_timeout 300ms;\n server {{ listen 127.0.0.1:{port}; location / {{ root html; }} location /sf/ {{ alias html/; sendfile on; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    for path in ["/big.bin", "/sf/big.bin"] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // read nothing for a while: the server's writes stall, then it gives up
        std::thread::sleep(Duration::from_millis(1500));
        let (got, _) = read_until_close(&mut s, Duration::from_secs(5));
        assert!(
            got.len() < 16 << 20,
            "{path}: the whole file arrived; the connection was not dropped"
        );
    }
    signal(child.id() as i32, 15);
    child.wait().unwrap();
    let log = p.log();
    assert!(
        log.contains("client timed out (110: Connection timed out) while sending response to client"),
        "{log}"
    );
    assert!(
        log.contains("sendfile() failed (timed out) while sending response to client"),
        "{log}"
    );
}

#[test]
fn init_by_lua_runs_once_per_load_and_workers_inherit_it() {
    let p = Prefix::new("lua-init");
    let port = port();
    let marks = p.dir.join("logs/init.marks");
    let conf = |v: &str| {
        format!(
            "worker_processes 2;\ndaemon off;\nerror_log logs/error.log info;\nuser root;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n init_by_lua_block {{ local f = io.open(\"{}\", \"a\"); f:write(\"init\\n\"); f:close(); data = \"{v}\" }}\n init_worker_by_lua_block {{ worker_id = ngx.worker.id() }}\n server {{ listen 127.0.0.1:{port}; location / {{ content_by_lua_block {{ ngx.say(data, \" \", worker_id, \" \", ngx.worker.count()) }} }} }} }}\n",
            marks.display()
        )
    };
    p.conf(&conf("v1"));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("two workers", Duration::from_secs(5), || worker_pids(master).len() == 2);
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let b = body(&get(port, "/").unwrap()).to_string();
        let parts: Vec<&str> = b.split_whitespace().collect();
        assert_eq!((parts[0], parts[2]), ("v1", "2"), "{b}");
        ids.insert(parts[1].to_string());
    }
    assert!(ids.iter().all(|i| i == "0" || i == "1"), "{ids:?}");
    let lines = || std::fs::read_to_string(&marks).unwrap_or_default().lines().count();
    assert_eq!(lines(), 1, "init_by_lua ran once for two workers");
    p.conf(&conf("v2"));
    signal(master, 1);
    wait_until("reloaded", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| body(&r).starts_with("v2 "))
    });
    assert_eq!(lines(), 2, "and once more for the reload");
    signal(master, 15);
    child.wait().unwrap();
}

/// Raises this test process's open-file limit to its hard limit (the machine allows 20,000).
fn raise_nofile() -> u64 {
    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }
    unsafe extern "C" {
        fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }
    const RLIMIT_NOFILE: i32 = 7;
    let mut r = Rlimit { cur: 0, max: 0 };
    // SAFETY: plain syscalls on a struct we own.
    unsafe {
        getrlimit(RLIMIT_NOFILE, &mut r);
        r.cur = r.max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
    r.cur
}

#[test]
fn ten_thousand_requests_sleep_at_once_in_one_worker() {
    let limit = raise_nofile();
    let n: usize = 10_000;
    assert!(
        limit as usize > n + 500,
        "this test needs {} open files, the limit is {limit}",
        n + 500
    );
    let p = Prefix::new("sleepers");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nworker_rlimit_nofile {};\nerror_log logs/error.log warn;\nevents {{ worker_connections {}; }}\nhttp {{ access_log off;\n server {{ listen 127.0.0.1:{port} backlog=4096; location / {{ content_by_lua_block {{ ngx.sleep(1) ngx.print(\"ok\") }} }} }} }}\n",
        n + 200,
        n + 100
    ));
    let mut child = start_master(&p);
    let t = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        conns.push(s);
    }
    let sent = t.elapsed();
    // every request is asleep at once: none can have answered before its second is up
    let mut ok = 0;
    for mut s in conns {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if body(&out) == "ok" {
            ok += 1;
        }
    }
    let all = t.elapsed();
    signal(child.id() as i32, 15);
    child.wait().unwrap();
    assert_eq!(
        ok,
        n,
        "all {n} sleeping requests were answered (sent in {sent:?}, done in {all:?})\n{}",
        p.log()
    );
    assert!(
        all < sent + Duration::from_secs(10),
        "sent in {sent:?}, done in {all:?}"
    );
    assert!(!p.log().contains("worker_connections are not enough"), "{}", p.log());
}

/// Sockets in /proc/net/tcp whose local (`column` 1) or remote (2) address is
/// 127.0.0.1:`port`, in `state` ("0A" listening, "01" established).
fn loopback_sockets(column: usize, port: u16, state: &str) -> usize {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let want = format!("0100007F:{port:04X}");
    tcp.lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(column) == Some(&want.as_str()) && f.get(3) == Some(&state)
        })
        .count()
}

/// Listening sockets on 127.0.0.1:`port`.
fn listeners_on(port: u16) -> usize {
    loopback_sockets(1, port, "0A")
}

#[test]
fn reuseport_gives_each_worker_its_own_socket() {
    let p = Prefix::new("reuseport");
    let (a, b) = (port(), port());
    p.conf(&format!(
        "worker_processes 2;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n server {{ listen 127.0.0.1:{a} reuseport; listen 127.0.0.1:{b}; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("two workers", Duration::from_secs(5), || worker_pids(master).len() == 2);
    assert_eq!(listeners_on(a), 2, "one socket per worker with reuseport");
    assert_eq!(listeners_on(b), 1, "one shared socket without");
    for _ in 0..10 {
        assert_eq!(body(&get(a, "/").unwrap()), "ok\n");
    }
    // a respawned worker takes its slot's socket again
    let victim = worker_pids(master)[0];
    signal(victim, 9);
    wait_until("respawn", Duration::from_secs(5), || {
        let w = worker_pids(master);
        w.len() == 2 && !w.contains(&victim)
    });
    assert_eq!(listeners_on(a), 2);
    assert_eq!(body(&get(a, "/").unwrap()), "ok\n");
    signal(master, 15);
    child.wait().unwrap();
}

#[test]
fn worker_processes_auto_starts_one_per_cpu() {
    let p = Prefix::new("auto");
    let port = port();
    p.conf(&master_conf(port, 1, "ok", "").replace("worker_processes 1;", "worker_processes auto;"));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    wait_until("workers", Duration::from_secs(5), || worker_pids(master).len() == cpus);
    signal(master, 15);
    child.wait().unwrap();
}

#[test]
fn lingering_close_lets_the_client_read_an_early_answer() {
    let p = Prefix::new("linger");
    let port = port();
    p.conf(&master_conf(port, 1, "ok", "").replace("http {\n", "http {\n client_max_body_size 1k;\n"));
    let mut child = start_master(&p);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = vec![b'x'; 4 << 20];
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // the server answers 413 at once; without lingering close our unread bytes would make
    // its close a reset, and this write or the read below would lose the answer
    let sent = s.write_all(&body);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 413 "),
        "write: {sent:?}, got {:?}",
        &text[..text.len().min(200)]
    );
    // and the server read (and dropped) the rest of the body instead of resetting
    assert!(sent.is_ok(), "the body could not be sent whole: {sent:?}");
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

#[test]
fn lua_requests_after_failed_ones_run_on_fresh_entry_threads() {
    // a failed request drops its entry thread (a 500 closes the connection, as nginx
    // does): the requests after it, on new connections, get working ones
    let p = Prefix::new("lua-errors");
    let port = port();
    let lua = r#"location / { content_by_lua_block {
        if ngx.var.arg_fail == "index" then local t = nil; t.x = 1 end
        if ngx.var.arg_fail == "api" then ngx.req.set_header(nil, "x") end
        if ngx.var.arg_fail == "object" then error({}) end
        ngx.say("ok ", ngx.var.arg_n)
    } }"#;
    let conf = master_conf(port, 1, "unused", "").replace("master_process on;", "master_process off;");
    p.conf(&conf.replace(r#"location / { return 200 "unused\n"; }"#, lua));
    let mut child = start_master(&p);
    for n in 0..30 {
        let fail = ["index", "api", "object"][n % 3];
        let failed = get(port, &format!("/?fail={fail}")).unwrap();
        assert!(failed.starts_with("HTTP/1.1 500"), "{failed}");
        let ok = get(port, &format!("/?n={n}")).unwrap();
        assert_eq!(body(&ok), format!("ok {n}\n"));
    }
    let log = p.log();
    assert_eq!(log.matches("lua entry thread aborted: runtime error:").count(), 30);
    assert!(log.contains("bad argument #1 to 'set_header' (string expected, got nil)"));
    // an error value that is not a string, as OpenResty reports it
    assert!(log.contains("runtime error: unknown reason"));
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
}

/// The uid a process runs as (real, from /proc).
fn uid_of(pid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1).map(str::to_string)
}

/// Whether a process has the socket listening on 127.0.0.1:`port` among its fds.
fn holds_listener(pid: i32, port: u16) -> bool {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| inodes.contains(&t.to_string_lossy().to_string())))
        })
        .unwrap_or(false)
}

#[test]
fn privileged_agent_runs_beside_the_workers() {
    let p = Prefix::new("agent");
    let port = port();
    let marks = p.dir.join("logs/types");
    let conf = |agent: &str| {
        format!(
            "worker_processes 2;\ndaemon off;\nuser nobody;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n init_by_lua_block {{ local process = require \"ngx.process\"; init_type = process.type(); {agent} }}\n init_worker_by_lua_block {{ local process = require \"ngx.process\"; local f = io.open(\"{}\", \"a\"); f:write(init_type, \"/\", process.type(), \"/\", tostring(ngx.worker.id()), \"/\", ngx.worker.count(), \"/\", process.get_master_pid(), \"\\n\"); f:close() }}\n server {{ listen 127.0.0.1:{port}; location / {{ content_by_lua_block {{ ngx.say(require(\"ngx.process\").type(), \" \", require(\"ngx.process\").get_master_pid()) }} }} }} }}\n",
            marks.display()
        )
    };
    // workers write as nobody
    std::fs::write(&marks, "").unwrap();
    std::fs::set_permissions(&marks, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    p.conf(&conf("assert(process.enable_privileged_agent())"));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("two workers and the agent", Duration::from_secs(5), || {
        worker_pids(master).len() == 3 && std::fs::read_to_string(&marks).is_ok_and(|m| m.lines().count() == 3)
    });
    let lines = std::fs::read_to_string(&marks).unwrap();
    let mut lines: Vec<&str> = lines.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("master/privileged agent/nil/2/{master}"),
            format!("master/worker/0/2/{master}"),
            format!("master/worker/1/2/{master}"),
        ],
        "{lines:?}"
    );
    // requests go to the workers only: the agent holds no listening socket
    for _ in 0..20 {
        assert_eq!(body(&get(port, "/").unwrap()), format!("worker {master}\n"));
    }
    let log = p.log();
    let agent: i32 = log
        .lines()
        .find_map(|l| l.split("start privileged agent process ").nth(1))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no agent in the log: {log}"));
    let w = *worker_pids(master).iter().find(|&&w| w != agent).unwrap();
    assert!(holds_listener(w, port), "a worker holds the listening socket");
    assert!(!holds_listener(agent, port), "the agent holds the listening socket");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } == 0 {
        assert_eq!(uid_of(agent).as_deref(), Some("0"), "the agent keeps the master's user");
        assert_ne!(uid_of(w).as_deref(), Some("0"), "workers drop privileges");
    }
    // a dead agent is replaced
    signal(agent, 9);
    wait_until("a new agent", Duration::from_secs(5), || {
        std::fs::read_to_string(&marks).is_ok_and(|m| m.lines().count() == 4) && worker_pids(master).len() == 3
    });
    assert!(
        p.log()
            .contains(&format!("privileged agent process {agent} exited on signal 9"))
    );
    // a reload whose init_by_lua does not ask for it ends the agent
    p.conf(&conf(""));
    signal(master, 1);
    wait_until("two workers and no agent", Duration::from_secs(5), || {
        std::fs::read_to_string(&marks).is_ok_and(|m| m.lines().count() == 6) && worker_pids(master).len() == 2
    });
    signal(master, 3);
    child.wait().unwrap();
}

#[test]
fn privileged_agent_with_no_connections_is_not_spawned() {
    let p = Prefix::new("agent0");
    let port = port();
    p.conf(&master_conf(port, 1, "ok", "").replace(
        "access_log off;",
        "access_log off; init_by_lua_block { assert(require(\"ngx.process\").enable_privileged_agent(0)) }",
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("the worker", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| body(&r) == "ok\n")
    });
    assert_eq!(worker_pids(master).len(), 1);
    assert!(
        p.log()
            .contains("0 worker_connection is not enough, privileged agent process cannot be spawned"),
        "{}",
        p.log()
    );
    signal(master, 15);
    child.wait().unwrap();
}

#[test]
fn init_by_lua_does_not_run_for_test_or_signal_commands() {
    let p = Prefix::new("noinit");
    let port = port();
    let marks = p.dir.join("logs/init.marks");
    p.conf(&master_conf(port, 1, "ok", "").replace(
        "access_log off;",
        &format!(
            "access_log off; init_by_lua_block {{ local f = io.open(\"{}\", \"a\"); f:write(\"init\\n\"); f:close() }}",
            marks.display()
        ),
    ));
    for args in [&["-t"][..], &["-T"], &["-t", "-q"]] {
        let out = p.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!marks.exists(), "init_by_lua ran for -t");
    let mut child = start_master(&p);
    wait_until("serving", Duration::from_secs(5), || get(port, "/").is_some());
    assert!(p.cmd().args(["-s", "reopen"]).status().unwrap().success());
    let runs = std::fs::read_to_string(&marks).unwrap();
    assert_eq!(runs, "init\n", "once for the start, not for -s");
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

#[test]
fn signal_graceful_exit_in_init_by_lua_stops_the_server_once_started() {
    for master in ["on", "off"] {
        let p = Prefix::new(&format!("initquit-{master}"));
        let port = port();
        p.conf(
            &master_conf(port, 1, "ok", "")
                .replace("master_process on;", &format!("master_process {master};"))
                .replace(
                    "access_log off;",
                    "access_log off; init_by_lua_block { require(\"ngx.process\").signal_graceful_exit() }",
                ),
        );
        let mut child = p.cmd().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let pid = child.id() as i32;
        wait_until("the server to stop by itself", Duration::from_secs(5), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        assert!(!alive(pid));
        let log = p.log();
        assert!(
            log.contains("gracefully shutting down"),
            "master_process {master}: {log}"
        );
    }
}

/// `syslog:` targets: the error log and access logs as RFC 3164 datagrams, as nginx sends
/// them (checked against Debian's nginx: `<190>Dec  6 01:34:45 nginx: …` and so on).
#[test]
fn error_and_access_logs_go_to_syslog() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let unix_path = std::env::temp_dir().join(format!("oxr-syslog-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&unix_path);
    let unix = std::os::unix::net::UnixDatagram::bind(&unix_path).unwrap();
    unix.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let p = Prefix::new("syslog");
    let port = port();
    p.conf(&format!(
        "daemon off;\nmaster_process off;\nerror_log syslog:server=127.0.0.1:{udp_port} warn;\nevents {{}}\nhttp {{\n server {{\n  listen 127.0.0.1:{port};\n  access_log syslog:server=unix:{},facility=local3,severity=notice,tag=web;\n  location = /a {{ access_log syslog:server=127.0.0.1:{udp_port},nohostname; return 200 \"a\\n\"; }}\n  location / {{ root html/none; }}\n }}\n}}\n",
        unix_path.display()
    ));
    let mut child = start_master(&p);
    let recv = |s: &dyn Fn(&mut [u8]) -> std::io::Result<usize>| {
        let mut buf = [0u8; 4096];
        let n = s(&mut buf).expect("a datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    get(port, "/a").unwrap();
    let access = recv(&|b| udp.recv(b));
    let header = regex_like(r"^<190>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d nginx: 127\.0\.0\.1 - - \[");
    assert!(header(&access), "{access}");
    assert!(access.ends_with("\"GET /a HTTP/1.1\" 200 2 \"-\" \"-\""), "{access}");
    get(port, "/missing").unwrap();
    let error = recv(&|b| udp.recv(b));
    let host = hostname();
    assert!(error.starts_with("<187>"), "{error}");
    assert!(error.contains(&format!(" {host} nginx: ")), "{error}");
    assert!(
        error.contains("[error] ") && error.contains("open() \"") && !error.ends_with('\n'),
        "{error}"
    );
    let local = recv(&|b| unix.recv(b));
    assert!(
        local.starts_with("<157>") && local.contains(&format!(" {host} web: 127.0.0.1 - - [")),
        "{local}"
    );
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_file(&unix_path);
}

fn regex_like(re: &str) -> impl Fn(&str) -> bool {
    let re = pcre2::bytes::Regex::new(re).unwrap();
    move |s| re.is_match(s.as_bytes()).unwrap()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// client_header_timeout bounds the whole head, as nginx's: a client that sends a header
/// line now and then (slowloris) is closed when it runs out, not kept alive by each line.
#[test]
fn a_trickling_head_is_cut_at_client_header_timeout() {
    let p = Prefix::new("trickle");
    let port = port();
    p.conf(
        &master_conf(port, 1, "ok", "")
            .replace("master_process on;", "master_process off;")
            .replace("access_log off;", "access_log off;\n client_header_timeout 1s;"),
    );
    let mut child = start_master(&p);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(300));
        if s.write_all(b"X-A: 1\r\n").is_err() {
            closed = true;
            break;
        }
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 16];
        let gone = match s.read(&mut b) {
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            Ok(_) => true,
        };
        s.set_nonblocking(false).unwrap();
        if gone {
            closed = true;
            break;
        }
    }
    let took = start.elapsed();
    assert!(closed, "the connection was kept for {took:?}");
    assert!(took < Duration::from_millis(2500), "closed only after {took:?}");
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
}

/// `load_module` of a built-in module says so at notice level while the config is read.
#[test]
fn load_module_of_a_built_in_module_is_noted() {
    let p = Prefix::new("load-module");
    p.conf("load_module modules/ngx_http_lua_module.so;\nevents {}\nhttp {}\n");
    let out = p.cmd().arg("-t").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[notice]") && err.contains("module \"ngx_http_lua_module\" is built into oxiresty"),
        "{err}"
    );
}

/// A config of `workers` workers with a shared dict `d` and `locations` in its server.
fn shdict_conf(port: u16, workers: usize, dict_size: &str, http_extra: &str, locations: &str) -> String {
    format!(
        "worker_processes {workers};\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n access_log off;\n lua_shared_dict d {dict_size};\n {http_extra}\n server {{\n  listen 127.0.0.1:{port};\n  {locations}\n }}\n}}\n"
    )
}

/// Four workers increment the same keys from many connections at once: the totals are
/// exact, and a reload keeps the zone (same name and size) with its contents.
#[test]
fn shdict_totals_are_exact_across_workers_and_survive_a_reload() {
    let p = Prefix::new("shdict-count");
    let port = port();
    let locations = "location /incr { content_by_lua_block { local d = ngx.shared.d; d:incr(\"n\", 1, 0); d:incr(\"w\" .. ngx.worker.id(), 1, 0); ngx.say(\"ok\") } }\n  location /get { content_by_lua_block { local d = ngx.shared.d; ngx.say(d:get(\"n\"), \" \", (d:get(\"w0\") or 0) + (d:get(\"w1\") or 0) + (d:get(\"w2\") or 0) + (d:get(\"w3\") or 0), \" \", d:get(\"from_init\")) } }";
    p.conf(&shdict_conf(
        port,
        4,
        "1m",
        "init_by_lua_block { ngx.shared.d:set(\"from_init\", \"v1\") }",
        locations,
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("four workers", Duration::from_secs(5), || {
        worker_pids(master).len() == 4
    });
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..250 {
                    let r = fetch(port, "/incr").unwrap();
                    assert_eq!(body(&r), "ok\n", "{r}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(body(&get(port, "/get").unwrap()), "2000 2000 v1\n");
    // reload: the init code changes, the zone stays (init_by_lua of the new load wrote v2)
    p.conf(&shdict_conf(
        port,
        4,
        "1m",
        "init_by_lua_block { ngx.shared.d:set(\"from_init\", \"v2\") }",
        locations,
    ));
    signal(master, 1);
    wait_until("reloaded", Duration::from_secs(5), || {
        get(port, "/get").is_some_and(|r| body(&r).ends_with("v2\n"))
    });
    assert_eq!(body(&get(port, "/get").unwrap()), "2000 2000 v2\n");
    // a new size is a new, empty zone
    p.conf(&shdict_conf(port, 4, "2m", "", locations));
    signal(master, 1);
    wait_until("reloaded with a new size", Duration::from_secs(5), || {
        get(port, "/get").is_some_and(|r| body(&r) == "nil 0 nil\n")
    });
    signal(master, 15);
    child.wait().unwrap();
}

/// A worker killed while it holds a zone's lock does not stop the others: the next
/// locker takes the lock over, checks the dictionary and says so in the log.
#[test]
fn shdict_lock_of_a_killed_worker_is_taken_over() {
    let p = Prefix::new("shdict-kill");
    let port = port();
    // flush_expired over 100k live items walks them all with the lock held: a worker
    // looping on it holds the lock nearly all the time
    let init = "init_by_lua_block { local d = ngx.shared.d; for i = 1, 100000 do d:set(\"k\" .. i, i) end }";
    let locations = "location /hold { content_by_lua_block { ngx.log(ngx.ERR, \"holder \", ngx.worker.pid(), \" ready\"); local d = ngx.shared.d; while true do for _ = 1, 50 do d:flush_expired() end ngx.sleep(0) end } }\n  location /get { content_by_lua_block { ngx.say(ngx.shared.d:get(\"k7\")) } }";
    p.conf(&shdict_conf(port, 2, "32m", init, locations));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("two workers", Duration::from_secs(5), || worker_pids(master).len() == 2);
    let mut taken_over = false;
    for round in 0..20 {
        std::thread::spawn(move || {
            let _ = fetch(port, "/hold");
        });
        let mut holder = None;
        wait_until("a holder", Duration::from_secs(5), || {
            let log = p.log();
            holder = log
                .lines()
                .filter_map(|l| l.split("holder ").nth(1))
                .filter_map(|r| r.split_whitespace().next()?.parse::<i32>().ok())
                .nth(round);
            holder.is_some()
        });
        let holder = holder.unwrap();
        std::thread::sleep(Duration::from_millis(30));
        signal(holder, 9);
        // the other worker (or the respawned one) still answers, promptly
        let start = Instant::now();
        let r = fetch(port, "/get").unwrap();
        assert_eq!(body(&r), "7\n", "{r}");
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
        if p.log().contains("a process died holding its lock") {
            taken_over = true;
            break;
        }
    }
    assert!(taken_over, "no kill landed while the lock was held:\n{}", p.log());
    let log = p.log();
    assert!(
        log.contains("[alert]") && log.contains("lua_shared_dict \"d\""),
        "{log}"
    );
    signal(master, 15);
    child.wait().unwrap();
}

/// The privileged agent shares the dicts: what it stores, the workers read.
#[test]
fn shdict_is_shared_with_the_privileged_agent() {
    let p = Prefix::new("shdict-agent");
    let port = port();
    let http = "init_by_lua_block { assert(require(\"ngx.process\").enable_privileged_agent()) }\n init_worker_by_lua_block { if require(\"ngx.process\").type() == \"privileged agent\" then ngx.shared.d:set(\"agent\", \"pid \" .. ngx.worker.pid()) end }";
    let locations = "location / { content_by_lua_block { ngx.say(ngx.shared.d:get(\"agent\")) } }";
    p.conf(&shdict_conf(port, 2, "1m", http, locations));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("the agent's value", Duration::from_secs(5), || {
        get(port, "/").is_some_and(|r| body(&r).starts_with("pid "))
    });
    let agent_pid: i32 = body(&get(port, "/").unwrap())
        .trim()
        .trim_start_matches("pid ")
        .parse()
        .unwrap();
    assert!(
        worker_pids(master).contains(&agent_pid),
        "the agent is a child of the master"
    );
    signal(master, 15);
    child.wait().unwrap();
}

#[test]
fn timers_fire_prematurely_on_reload_and_the_old_worker_waits_for_running_ones() {
    let p = Prefix::new("lua-timers");
    let port = port();
    let marks = p.dir.join("logs/timers.marks");
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nuser root;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n init_worker_by_lua_block {{\n  local function mark(s) local f = io.open(\"{}\", \"a\"); f:write(ngx.worker.pid(), \" \", s, \"\\n\"); f:close() end\n  ngx.timer.at(100, function(premature) mark(\"long timer premature=\" .. tostring(premature)) end)\n  ngx.timer.every(100, function(premature) mark(\"every premature=\" .. tostring(premature)) end)\n  ngx.timer.at(0, function(premature) mark(\"slow timer starts\") ngx.sleep(1) mark(\"slow timer done, exiting=\" .. tostring(ngx.worker.exiting())) end)\n }}\n server {{ listen 127.0.0.1:{port}; location / {{ return 200 ok; }} }} }}\n",
        marks.display()
    );
    p.conf(&conf);
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("one worker", Duration::from_secs(5), || worker_pids(master).len() == 1);
    let old = worker_pids(master)[0];
    let read = || std::fs::read_to_string(&marks).unwrap_or_default();
    wait_until("the slow timer started", Duration::from_secs(5), || {
        read().contains("slow timer starts")
    });
    let t0 = Instant::now();
    signal(master, 1);
    wait_until("premature timers ran", Duration::from_secs(5), || {
        let m = read();
        m.contains(&format!("{old} long timer premature=true")) && m.contains(&format!("{old} every premature=true"))
    });
    assert!(alive(old), "the old worker waits for its running timer");
    wait_until("the old worker ended", Duration::from_secs(5), || {
        !alive(old) || !worker_pids(master).contains(&old)
    });
    let m = read();
    assert!(m.contains(&format!("{old} slow timer done, exiting=true")), "{m}");
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "it waited for the slow timer"
    );
    assert!(!m.contains("premature=false"), "{m}");
    signal(master, 15);
    child.wait().unwrap();
}

/// A log_by_lua that waits runs after its response, and a reload's old worker waits
/// for it to end, as for a request.
#[test]
fn a_waiting_log_phase_finishes_through_a_reload() {
    let p = Prefix::new("lua-log-wait");
    let port = port();
    let marks = p.dir.join("logs/log.marks");
    let conf = format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nuser root;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n server {{ listen 127.0.0.1:{port};\n  location / {{ content_by_lua_block {{ ngx.say(\"ok\") }}\n   log_by_lua_block {{ ngx.sleep(1) local f = io.open(\"{}\", \"a\") f:write(ngx.worker.pid(), \" logged \", ngx.var.uri, \" exiting=\", tostring(ngx.worker.exiting()), \"\\n\") f:close() }} }} }} }}\n",
        marks.display()
    );
    p.conf(&conf);
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("one worker", Duration::from_secs(5), || worker_pids(master).len() == 1);
    let old = worker_pids(master)[0];
    wait_until("serving", Duration::from_secs(5), || get(port, "/warm").is_some());
    let t0 = Instant::now();
    let resp = get(port, "/a").expect("a response");
    assert_eq!(body(&resp), "ok\n", "{resp}");
    assert!(
        t0.elapsed() < Duration::from_millis(700),
        "the response did not wait for the log phase"
    );
    signal(master, 1);
    let read = || std::fs::read_to_string(&marks).unwrap_or_default();
    wait_until("the old worker ended", Duration::from_secs(5), || {
        !alive(old) || !worker_pids(master).contains(&old)
    });
    let m = read();
    assert!(m.contains(&format!("{old} logged /a exiting=true")), "{m}");
    signal(master, 15);
    child.wait().unwrap();
}

/// A DNS server for tests: `name` has `addr` (TTL `ttl`), any other name is not found;
/// counts the questions it gets.
fn dns_responder(name: &'static str, addr: [u8; 4], ttl: u32) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = asked.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let q = &buf[..n];
            // the question's name, and where it ends
            let (mut at, mut labels) = (12, Vec::new());
            while at < n && q[at] != 0 {
                let l = q[at] as usize;
                labels.push(String::from_utf8_lossy(&q[at + 1..at + 1 + l]).into_owned());
                at += 1 + l;
            }
            let qend = at + 5;
            let qtype = u16::from_be_bytes([q[at + 1], q[at + 2]]);
            let known = labels.join(".") == name && qtype == 1;
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[
                0x81,
                if labels.join(".") == name { 0x80 } else { 0x83 },
                0,
                1,
                0,
                known as u8,
                0,
                0,
                0,
                0,
            ]);
            r.extend_from_slice(&q[12..qend]);
            if known {
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
                r.extend_from_slice(&ttl.to_be_bytes());
                r.extend_from_slice(&[0, 4]);
                r.extend_from_slice(&addr);
            }
            let _ = sock.send_to(&r, from);
        }
    });
    (port, asked)
}

#[test]
fn cosockets_resolve_names_with_the_resolver_and_cache_them() {
    let (dns, asked) = dns_responder("svc.test", [127, 0, 0, 1], 60);
    let p = Prefix::new("lua-resolver");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n resolver 127.0.0.1:{dns} ipv6=off;\n resolver_timeout 2s;\n server {{ listen 127.0.0.1:{port};\n  location = /hi {{ return 200 hi; }}\n  location = /t {{ content_by_lua_block {{\n   local s = ngx.socket.tcp()\n   local ok, err = s:connect(\"svc.test\", {port})\n   ngx.say(\"svc: \", ok, \" \", err)\n   ngx.say(ngx.socket.connect(\"nope.test\", {port}))\n  }} }}\n }} }}\n"
    ));
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("a worker", Duration::from_secs(5), || get(port, "/hi").is_some());
    let first = body(&get(port, "/t").unwrap());
    assert_eq!(
        first,
        "svc: 1 nil\nnilnope.test could not be resolved (3: Host not found)\n",
        "{}",
        p.log()
    );
    let after_first = asked.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after_first, 2, "one question per name");
    let second = body(&get(port, "/t").unwrap());
    assert_eq!(second, first);
    // both answers came from the cache (a name not found is kept too, as nginx does)
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    let _ = master;
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

#[test]
fn two_instances_share_a_rate_limit_through_redis_exactly() {
    services::ensure_packages().unwrap();
    let mut started = services::start("$TEST_NGINX_REDIS_PORT", port).unwrap();
    let redis = started[0].port;
    let limit = 60;
    let (a, b) = (Prefix::new("rl-a"), Prefix::new("rl-b"));
    let (pa, pb) = (port(), port());
    let conf = |port: u16| {
        format!(
            "worker_processes 2;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{ access_log off;\n lua_package_path \"/usr/share/lua/5.1/?.lua;;\";\n server {{ listen 127.0.0.1:{port};\n  location = /hi {{ return 200 hi; }}\n  location = /t {{\n   access_by_lua_block {{\n    local red = require(\"nginx.redis\"):new()\n    red:set_timeout(2000)\n    assert(red:connect(\"127.0.0.1\", {redis}))\n    local n = assert(red:incr(\"rl:shared\"))\n    red:set_keepalive(10000, 50)\n    if n > {limit} then return ngx.exit(429) end\n   }}\n   content_by_lua_block {{ ngx.say(\"ok\") }}\n  }}\n }} }}\n"
        )
    };
    a.conf(&conf(pa));
    b.conf(&conf(pb));
    let (mut ca, mut cb) = (start_master(&a), start_master(&b));
    wait_until("both serve", Duration::from_secs(5), || {
        get(pa, "/hi").is_some() && get(pb, "/hi").is_some()
    });
    // 8 client threads, each alternating between the two servers
    let counts: Vec<(usize, usize)> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let (mut ok, mut limited) = (0, 0);
                for j in 0..25 {
                    let port = if (i + j) % 2 == 0 { pa } else { pb };
                    let resp = fetch(port, "/t").unwrap_or_default();
                    if resp.starts_with("HTTP/1.1 200") {
                        ok += 1;
                    } else if resp.starts_with("HTTP/1.1 429") {
                        limited += 1;
                    }
                }
                (ok, limited)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let ok: usize = counts.iter().map(|c| c.0).sum();
    let limited: usize = counts.iter().map(|c| c.1).sum();
    assert_eq!((ok, limited), (limit, 200 - limit), "{}{}", a.log(), b.log());
    signal(ca.id() as i32, 15);
    signal(cb.id() as i32, 15);
    ca.wait().unwrap();
    cb.wait().unwrap();
    started.clear();
}

#[test]
fn lua_resty_dns_queries_a_real_dns_server_over_udp() {
    services::ensure_packages().unwrap();
    let (dns, asked) = dns_responder("svc.test", [10, 1, 2, 3], 42);
    let p = Prefix::new("lua-dns");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n lua_package_path \"/usr/share/lua/5.1/?.lua;;\";\n server {{ listen 127.0.0.1:{port};\n  location = /hi {{ return 200 hi; }}\n  location = /t {{ content_by_lua_block {{\n   local resolver = require \"nginx.dns.resolver\"\n   local r = assert(resolver:new{{ nameservers = {{ {{\"127.0.0.1\", {dns}}} }}, retrans = 2, timeout = 1000 }})\n   local answers = assert(r:query(\"svc.test\", {{ qtype = r.TYPE_A }}))\n   local a = answers[1]\n   ngx.say(#answers, \" \", a.name, \" \", a.address, \" \", a.ttl, \" \", a.type == r.TYPE_A)\n   local nx = assert(r:query(\"nope.test\"))\n   ngx.say(nx.errcode, \" \", nx.errstr)\n  }} }}\n }} }}\n"
    ));
    let mut child = start_master(&p);
    wait_until("a worker", Duration::from_secs(5), || get(port, "/hi").is_some());
    let b = body(&get(port, "/t").unwrap());
    assert_eq!(b, "1 svc.test 10.1.2.3 42 true\n3 name error\n", "{}", p.log());
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

#[test]
fn requests_aborted_mid_wait_leave_nothing_behind() {
    let p = Prefix::new("lua-abort-waits");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 512; }}\nhttp {{ access_log off;\n init_worker_by_lua_block {{ sema = require(\"ngx.semaphore\").new() }}\n server {{ listen 127.0.0.1:{port};\n  location = /wait {{ lua_check_client_abort on;\n   content_by_lua_block {{\n    local t = ngx.thread.spawn(function() ngx.sleep(30) end)\n    local sock = ngx.socket.tcp()\n    sock:connect(\"127.0.0.1\", {port})\n    sema:wait(30)\n   }} }}\n  location = /count {{ content_by_lua_block {{\n   collectgarbage() collectgarbage()\n   ngx.say(sema:count(), \" \", ngx.timer.pending_count(), \" \", math.floor(collectgarbage(\"count\")))\n  }} }}\n }} }}\n"
    ));
    let mut child = start_master(&p);
    wait_until("a worker", Duration::from_secs(5), || get(port, "/count").is_some());
    let before: Vec<i64> = body(&get(port, "/count").unwrap())
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // 200 clients start waiting (a light thread sleeping, a cosocket, a semaphore wait),
    // then go away
    let mut clients = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        clients.push(s);
    }
    wait_until("all waiting", Duration::from_secs(5), || {
        body(&get(port, "/count").unwrap_or_default()).starts_with("-200 ")
    });
    drop(clients);
    wait_until("every wait released", Duration::from_secs(5), || {
        body(&get(port, "/count").unwrap_or_default()).starts_with("0 ")
    });
    let after: Vec<i64> = body(&get(port, "/count").unwrap())
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(
        (after[0], after[1]),
        (before[0], before[1]),
        "semaphore waiters and timers"
    );
    // the Lua heap is back near where it was: no coroutine or socket kept
    assert!(
        after[2] < before[2] + 512,
        "Lua heap {} KiB -> {} KiB",
        before[2],
        after[2]
    );
    assert!(p.log().contains("client prematurely closed connection"), "{}", p.log());
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

/// The distinct `$connection` numbers the upstream saw, over `n` requests through the
/// proxy (each answer is the upstream's `$connection`).
fn upstream_connections_seen(port: u16, path: &str, n: usize) -> std::collections::BTreeSet<String> {
    (0..n)
        .map(|_| body(&fetch(port, path).unwrap()).trim().to_string())
        .collect()
}

#[test]
fn keepalive_upstream_connections_are_reused() {
    let p = Prefix::new("upkeep");
    let (front, back) = (port(), port());
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n upstream kept {{ server 127.0.0.1:{back}; keepalive 4; }}\n upstream fresh {{ server 127.0.0.1:{back}; }}\n server {{ listen 127.0.0.1:{back}; location / {{ return 200 \"$connection\\n\"; }} }}\n server {{\n  listen 127.0.0.1:{front};\n  proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n  location /kept {{ proxy_pass http://kept; }}\n  location /fresh {{ proxy_pass http://fresh; }}\n }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || get(front, "/kept").is_some());
    // (the probe above may have opened the kept connection: count from here)
    let kept = upstream_connections_seen(front, "/kept", 20);
    assert_eq!(kept.len(), 1, "20 requests over one kept upstream connection: {kept:?}");
    let fresh = upstream_connections_seen(front, "/fresh", 20);
    assert_eq!(fresh.len(), 20, "without keepalive each request has its own: {fresh:?}");
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
}

#[test]
fn concurrent_requests_through_a_small_pool_each_get_their_own_answer() {
    // more requests in flight than `keepalive 2` keeps: connections are handed from one
    // request to a waiting one (pool.rs); each answer must still reach its own request
    let p = Prefix::new("uphandoff");
    let (front, back) = (port(), port());
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n access_log off;\n upstream kept {{ server 127.0.0.1:{back}; keepalive 2; }}\n server {{ listen 127.0.0.1:{back}; location / {{ return 200 \"$request_uri $connection\\n\"; }} }}\n server {{\n  listen 127.0.0.1:{front};\n  proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n  location / {{ proxy_pass http://kept; }}\n }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || get(front, "/").is_some());
    let clients: Vec<_> = (0..16)
        .map(|c| {
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for i in 0..40 {
                    let uri = format!("/c{c}/r{i}");
                    let answer = body(&fetch(front, &uri).unwrap());
                    let (echoed, conn) = answer.trim().split_once(' ').unwrap_or_default();
                    assert_eq!(echoed, uri, "answer {answer:?}");
                    seen.push(conn.to_string());
                }
                seen
            })
        })
        .collect();
    let mut upstream_conns = std::collections::BTreeSet::new();
    for c in clients {
        upstream_conns.extend(c.join().unwrap());
    }
    let log = p.log();
    assert!(!log.contains("[error]") && !log.contains("[crit]"), "{log}");
    eprintln!(
        "640 proxied requests over {} upstream connections",
        upstream_conns.len()
    );
    assert!(upstream_conns.len() < 640, "connections were reused");
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
}

/// Established connections to 127.0.0.1:`port` (the client side of each).
fn connections_to(port: u16) -> usize {
    loopback_sockets(2, port, "01")
}

/// The upstream's `$connection` of each of `n` requests sent at once (the upstream holds
/// each a moment, so that all are in flight together).
fn burst(front: u16, n: usize) -> std::collections::BTreeSet<String> {
    let clients: Vec<_> = (0..n)
        .map(|_| std::thread::spawn(move || body(&fetch(front, "/").unwrap()).trim().to_string()))
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

#[test]
fn a_burst_beyond_keepalive_leaves_its_connections_for_the_next_then_n_stay() {
    // beyond nginx (pool.rs): the connections over `keepalive 2` that a burst leaves idle
    // are closed once they have idled a second, not at once
    let p = Prefix::new("upgrace");
    let (front, back) = (port(), port());
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 256; }}\nhttp {{\n access_log off;\n upstream kept {{ server 127.0.0.1:{back}; keepalive 2; }}\n server {{ listen 127.0.0.1:{back}; location / {{ content_by_lua_block {{ ngx.sleep(0.3) ngx.say(ngx.var.connection) }} }} }}\n server {{\n  listen 127.0.0.1:{front};\n  proxy_http_version 1.1;\n  proxy_set_header Connection \"\";\n  location / {{ proxy_pass http://kept; }}\n }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || get(front, "/").is_some());
    let first = burst(front, 6);
    assert!(
        first.len() >= 5,
        "six requests at once, each on its own connection: {first:?}"
    );
    assert!(connections_to(back) >= first.len(), "all kept a moment");
    // (as many as the first had connections, should the first have reused one)
    let second = burst(front, first.len());
    assert!(
        second.is_subset(&first),
        "the next burst takes the kept ones instead of connecting: {first:?} then {second:?}"
    );
    // within the grace and the sweep's second, the pool is back to `keepalive 2`
    wait_until("the surplus closed", Duration::from_secs(5), || {
        connections_to(back) == 2
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(connections_to(back), 2, "N stay kept");
    let third = burst(front, 2);
    assert!(third.is_subset(&first), "{third:?} from {first:?}");
    signal(child.id() as i32, 3);
    assert!(child.wait().unwrap().success());
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_gigabyte_streams_through_the_proxy_in_bounded_memory() {
    let p = Prefix::new("upbig");
    let (front, back) = (port(), port());
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n server {{ listen 127.0.0.1:{back}; location / {{ content_by_lua_block {{ local mb = string.rep(\"x\", 1048576) for _ = 1, 1024 do ngx.print(mb) ngx.flush(true) end }} }} }}\n server {{ listen 127.0.0.1:{front}; location / {{ proxy_http_version 1.1; proxy_pass http://127.0.0.1:{back}; }} }}\n}}\n"
    ));
    // (HTTP/1.1 to the upstream: an HTTP/1.0 request would have its Lua answer held whole
    // for its length, lua_http10_buffering, as OpenResty does)
    let mut child = start_master(&p);
    let master = child.id() as i32;
    wait_until("a worker", Duration::from_secs(5), || !worker_pids(master).is_empty());
    let worker = worker_pids(master)[0];
    let mut s = TcpStream::connect(("127.0.0.1", front)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let (mut total, mut head) = (0usize, None);
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if head.is_none() {
            head = buf[..n].windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        }
        total += n;
    }
    let body = total - head.expect("a response head");
    assert_eq!(body, 1 << 30, "the whole gigabyte arrived");
    let peak = peak_rss_kib(worker);
    eprintln!("worker peak RSS after a 1 GiB proxied body: {peak} KiB");
    assert!(
        peak < 96 * 1024,
        "the worker peaked at {peak} KiB: the body was not held whole"
    );
    signal(master, 3);
    assert!(child.wait().unwrap().success());
}

#[test]
fn proxy_buffering_frees_the_upstream_before_a_slow_client_reads() {
    let p = Prefix::new("upbuf");
    let (front, back) = (port(), port());
    // 32 MiB: more than the kernel's socket buffers hold, less than the read-ahead
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n server {{ listen 127.0.0.1:{back}; location / {{ content_by_lua_block {{ local mb = string.rep(\"x\", 1048576) for _ = 1, 32 do ngx.print(mb) end }} log_by_lua_block {{ ngx.log(ngx.WARN, \"upstream done: \", ngx.var.uri) }} }} }}\n server {{\n  listen 127.0.0.1:{front};\n  proxy_http_version 1.1;\n  location /buffered {{ proxy_buffers 64 1m; proxy_pass http://127.0.0.1:{back}; }}\n  location /spooled {{ proxy_temp_path spool 1 2; proxy_pass http://127.0.0.1:{back}; }}\n  location /unspooled {{ proxy_max_temp_file_size 0; proxy_pass http://127.0.0.1:{back}; }}\n  location /unbuffered {{ proxy_buffering off; proxy_pass http://127.0.0.1:{back}; }}\n }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", front)).is_ok()
    });
    let slow_client = |path: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", front)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        s
    };
    let held = slow_client("/buffered");
    wait_until(
        "the upstream to finish while the client reads nothing",
        Duration::from_secs(10),
        || p.log().contains("upstream done: /buffered"),
    );
    // past proxy_buffers (32 KiB by default) the rest waits in a temp file
    let mut spooled = slow_client("/spooled");
    wait_until(
        "the upstream to finish into a temp file",
        Duration::from_secs(10),
        || p.log().contains("upstream done: /spooled"),
    );
    // (in the subdirectories proxy_temp_path's levels name: spool/7/45/...12457)
    let log = p.log();
    let path = log
        .split("an upstream response is buffered to a temporary file ")
        .nth(1)
        .and_then(|rest| rest.split(" while").next())
        .unwrap_or_else(|| panic!("no temp file line: {log}"));
    let parts: Vec<&str> = path.rsplitn(4, '/').collect();
    assert_eq!(parts[3].rsplit('/').next(), Some("spool"), "{path}");
    assert!(parts[2].len() == 1 && parts[1].len() == 2, "{path}");
    assert!(parts[0].ends_with(&format!("{}{}", parts[1], parts[2])), "{path}");
    let held_too = slow_client("/unbuffered");
    let held_three = slow_client("/unspooled");
    std::thread::sleep(Duration::from_millis(1500));
    let log = p.log();
    assert!(
        !log.contains("upstream done: /unbuffered") && !log.contains("upstream done: /unspooled"),
        "without buffering (or a temp file) the upstream waits for the client"
    );
    // the spooled answer arrives whole once the client reads
    spooled.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = spooled.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        if n == 0 || got.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    let body = body(&text);
    assert_eq!(body.len(), 32 << 20, "the whole spooled body");
    assert!(body.bytes().all(|b| b == b'x'));
    drop((held, held_too, held_three));
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

#[test]
fn gzip_gives_out_what_it_holds_on_an_explicit_flush() {
    let p = Prefix::new("gzflush");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n server {{ listen 127.0.0.1:{port}; gzip on; gzip_min_length 1; location / {{ default_type text/html; content_by_lua_block {{ ngx.print(string.rep(\"a\", 100)) ngx.flush(true) ngx.sleep(2) ngx.print(\"b\") }} }} }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    // before the sleep ends, the flushed part is there: a deflate sync flush ends in
    // 00 00 ff ff (in its chunk, before the chunk's CRLF)
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_millis(1500) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if got.windows(6).any(|w| w == b"\x00\x00\xff\xff\r\n") {
            break;
        }
    }
    assert!(
        got.windows(6).any(|w| w == b"\x00\x00\xff\xff\r\n"),
        "the flushed part did not arrive before the end: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
    drop(s);
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

/// A Debian tool a test drives (curl, openssl): installed when missing (as root, as CI
/// runs), else the test fails saying so.
fn need_tool(bin: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return;
    }
    let installed = Command::new("sh")
        .args(["-c", &format!("apt-get update -qq && apt-get install -y -qq {package}")])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(installed, "{bin} is missing and apt-get could not install {package}");
}

fn cert_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/t/cert").to_string()
}

/// curl over TLS to the test server as `name`, trusting the test CA; its output.
fn curl_tls(port: u16, name: &str, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(format!("{}/ca.crt", cert_dir()))
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .args(extra)
        .arg(format!("https://{name}:{port}/"))
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn https_with_curl_and_openssl_s_client() {
    need_tool("curl", "curl");
    need_tool("openssl", "openssl");
    let p = Prefix::new("https");
    let port = port();
    let c = cert_dir();
    p.conf(&format!(
        "worker_processes 2;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n ssl_protocols TLSv1.2 TLSv1.3;\n ssl_prefer_server_ciphers on;\n client_header_timeout 1s;\n server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name test.com;\n  ssl_certificate {c}/test-rsa-chain.crt;\n  ssl_certificate_key {c}/test-rsa.key;\n  ssl_certificate {c}/test-ecdsa.crt;\n  ssl_certificate_key {c}/test-ecdsa.key;\n  ssl_session_cache builtin:1000;\n  ssl_stapling on;\n  ssl_stapling_file {c}/test-rsa.ocsp;\n  location / {{ return 200 \"$scheme $ssl_protocol $ssl_cipher $ssl_server_name $ssl_session_reused\\n\"; }}\n }}\n server {{\n  listen 127.0.0.1:{port} ssl;\n  server_name other.org;\n  ssl_certificate {c}/other-name.crt;\n  ssl_certificate_key {c}/other-name.key;\n  location / {{ return 200 \"other\\n\"; }}\n }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // curl: TLS 1.3 by default; TLS 1.2 with an ECDSA-only cipher gets the ECDSA certificate
    assert_eq!(
        curl_tls(port, "test.com", &[]),
        "https TLSv1.3 TLS_AES_256_GCM_SHA384 test.com .\n"
    );
    assert_eq!(
        curl_tls(
            port,
            "test.com",
            &["--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"]
        ),
        "https TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 test.com .\n"
    );
    assert_eq!(curl_tls(port, "other.org", &[]), "other\n");
    // openssl s_client: the chain verifies, and a session is resumed (from either worker:
    // the ticket keys are the master's)
    let sess = p.dir.join("sess.pem");
    let s_client = |extra: &[&str]| {
        let mut cmd = Command::new("openssl");
        cmd.args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-servername", "test.com", "-ign_eof", "-CAfile"])
            .arg(format!("{c}/ca.crt"))
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET / HTTP/1.1\r\nHost: test.com\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = s_client(&["-tls1_2", "-sess_out", sess.to_str().unwrap()]);
    assert!(first.contains("Verify return code: 0 (ok)"), "{first}");
    assert!(first.contains("https TLSv1.2"), "{first}");
    let mut resumed = 0;
    for _ in 0..4 {
        let again = s_client(&["-tls1_2", "-sess_in", sess.to_str().unwrap()]);
        if again.contains("Reused, TLSv1.2") && again.contains(" r\n") {
            resumed += 1;
        }
    }
    assert_eq!(resumed, 4, "every reconnection resumed its session");
    // plain HTTP to the ssl port: nginx's 400 page for 497
    let plain = fetch(port, "/").unwrap();
    assert!(plain.starts_with("HTTP/1.1 400 Bad Request"), "{plain}");
    assert!(
        plain.contains("The plain HTTP request was sent to HTTPS port"),
        "{plain}"
    );
    // a handshake that stalls is closed after client_header_timeout, logged at info
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(stalled.read(&mut buf).unwrap_or(0), 0, "closed without an answer");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // a truncated ClientHello (the client goes away)
    let mut cut = TcpStream::connect(("127.0.0.1", port)).unwrap();
    cut.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]).unwrap();
    drop(cut);
    wait_until("the handshake lines", Duration::from_secs(3), || {
        let log = p.log();
        log.contains("[info]") && log.contains("client timed out (110: Connection timed out) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:")
            && log.contains("peer closed connection in SSL handshake while SSL handshaking")
    });
    assert!(p.log().contains("client sent plain HTTP request to HTTPS port"));
    // ssl_stapling_file: the OCSP response goes to a client that asks for it
    let status = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-servername",
            "test.com",
            "-status",
            "-tls1_2",
            "-cipher",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("OCSP Response Status: successful"), "{text}");
    assert!(text.contains("Cert Status: good"), "{text}");
    assert!(!p.log().contains("[alert]") && !p.log().contains("exited on signal"));
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

/// Debian's own /etc/nginx/nginx.conf (ssl_protocols, ssl_prefer_server_ciphers, gzip,
/// mime.types…) starts as it is; only its paths and its sites are pointed at the test.
#[test]
fn debian_stock_nginx_conf_starts() {
    if !Path::new("/etc/nginx/nginx.conf").exists() {
        need_tool("nginx", "nginx");
    }
    let stock = std::fs::read_to_string("/etc/nginx/nginx.conf").unwrap();
    assert!(stock.contains("ssl_protocols"), "the stock file has its ssl lines");
    let p = Prefix::new("stock");
    let port = port();
    std::fs::write(p.dir.join("html/index.html"), "stock\n").unwrap();
    let conf: String = stock
        .lines()
        // (the dynamic modules a machine installed, and the user of a real install)
        .filter(|l| !l.contains("modules-enabled") && !l.trim_start().starts_with("user "))
        .map(|l| {
            let l = l
                .replace("/run/nginx.pid", "logs/nginx.pid")
                .replace("/var/log/nginx/", "logs/");
            if l.contains("sites-enabled") {
                format!("server {{ listen 127.0.0.1:{port}; root html; }}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    p.conf(&format!("daemon off;\n{conf}\n"));
    let test = p.cmd().arg("-t").output().unwrap();
    assert!(test.status.success(), "{}", String::from_utf8_lossy(&test.stderr));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || get(port, "/").is_some());
    let resp = get(port, "/").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert_eq!(body(&resp), "stock\n");
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

/// `openssl s_client` to 127.0.0.1:port as test.com with TLS 1.2, offering or saving a
/// session; true when the session was resumed.
fn s_client_resumed(port: u16, sess: &Path, save: bool) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-servername",
            "test.com",
            "-tls1_2",
            if save { "-sess_out" } else { "-sess_in" },
        ])
        .arg(sess)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("Reused, TLSv1.2")
}

/// ssl_session_cache shared: a session made by one worker resumes with any (no tickets:
/// only the cache can resume it); ssl_session_ticket_key: a ticket outlives the server
/// that issued it.
#[test]
fn tls_sessions_shared_by_workers_and_ticket_keys_by_restarts() {
    need_tool("openssl", "openssl");
    let c = cert_dir();
    let p = Prefix::new("tlscache");
    let port = port();
    let key = p.dir.join("ticket.key");
    std::fs::write(
        &key,
        (0..80u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let conf = |tls: &str| {
        format!(
            "worker_processes 2;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {c}/test-rsa.crt;\n  ssl_certificate_key {c}/test-rsa.key;\n  {tls}\n  location / {{ return 200 \"ok\\n\"; }}\n }}\n}}\n"
        )
    };
    let sess = p.dir.join("sess.pem");
    let serve = || {
        let child = start_master(&p);
        wait_until("the server", Duration::from_secs(5), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        child
    };
    let stop = |mut child: Child| {
        signal(child.id() as i32, 15);
        child.wait().unwrap();
    };
    // the shared cache
    p.conf(&conf("ssl_session_cache shared:SSL:1m; ssl_session_tickets off;"));
    let child = serve();
    assert!(!s_client_resumed(port, &sess, true));
    let resumed = (0..8).filter(|_| s_client_resumed(port, &sess, false)).count();
    assert_eq!(resumed, 8, "every worker resumes the session from the shared cache");
    stop(child);
    // a ticket key file: a new server process takes the old one's tickets
    p.conf(&conf(&format!(
        "ssl_session_cache off; ssl_session_ticket_key {};",
        key.display()
    )));
    let child = serve();
    assert!(!s_client_resumed(port, &sess, true));
    stop(child);
    let child = serve();
    assert!(
        s_client_resumed(port, &sess, false),
        "the restarted server takes the ticket"
    );
    stop(child);
    // key rotation: a new key first, the old one after it still decrypts; without the old
    // one the ticket is not taken
    let new_key = p.dir.join("ticket-new.key");
    std::fs::write(
        &new_key,
        (0..80u8)
            .map(|i| i.wrapping_mul(91).wrapping_add(3))
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    for (keys, resumes) in [(vec![&new_key, &key], true), (vec![&new_key], false)] {
        let lines: String = keys
            .iter()
            .map(|k| format!("ssl_session_ticket_key {}; ", k.display()))
            .collect();
        p.conf(&conf(&format!("ssl_session_cache off; {lines}")));
        let child = serve();
        assert_eq!(s_client_resumed(port, &sess, false), resumes, "keys {keys:?}");
        stop(child);
    }
    // a 48-byte key (AES-128) works as well
    let short = p.dir.join("ticket48.key");
    std::fs::write(
        &short,
        (0..48u8)
            .map(|i| i.wrapping_mul(13).wrapping_add(7))
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    p.conf(&conf(&format!(
        "ssl_session_cache off; ssl_session_ticket_key {};",
        short.display()
    )));
    let child = serve();
    assert!(!s_client_resumed(port, &sess, true));
    assert!(s_client_resumed(port, &sess, false), "a 48-byte key's ticket");
    stop(child);
    // without the key file the same restart cannot resume it
    p.conf(&conf("ssl_session_cache off;"));
    let child = serve();
    assert!(!s_client_resumed(port, &sess, true));
    stop(child);
    let child = serve();
    assert!(!s_client_resumed(port, &sess, false), "new random ticket keys");
    stop(child);
}

/// ssl_session_store_by_lua / ssl_session_fetch_by_lua with TLS 1.3 (stateful tickets:
/// the session offered as a PSK identity) and TLS 1.2 (a session id), through a shared
/// dict, across two workers; openssl s_client keeps the session between connections.
#[test]
fn lua_session_hooks_resume_tls13_and_tls12_sessions() {
    need_tool("openssl", "openssl");
    let c = cert_dir();
    let p = Prefix::new("luasess");
    let port = port();
    p.conf(&format!(
        "worker_processes 2;\ndaemon off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{\n access_log off;\n lua_shared_dict sessions 1m;\n ssl_session_store_by_lua_block {{ local s = require \"ngx.ssl.session\" ngx.shared.sessions:set(s.get_session_id(), s.get_serialized_session()) }}\n ssl_session_fetch_by_lua_block {{ local s = require \"ngx.ssl.session\" local der = ngx.shared.sessions:get(s.get_session_id()) ngx.log(ngx.WARN, \"fetch \", der and \"found\" or \"missing\") if der then s.set_serialized_session(der) end }}\n server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {c}/test-rsa.crt;\n  ssl_certificate_key {c}/test-rsa.key;\n  ssl_session_tickets off;\n  location / {{ return 200 \"ok\\n\"; }}\n }}\n}}\n"
    ));
    let mut child = start_master(&p);
    wait_until("the server", Duration::from_secs(5), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    for version in ["-tls1_3", "-tls1_2"] {
        let sess = p.dir.join(format!("sess{version}.pem"));
        let run = |save: bool| {
            let out = Command::new("openssl")
                .args(["s_client", "-connect"])
                .arg(format!("127.0.0.1:{port}"))
                .args([
                    "-servername",
                    "test.com",
                    "-ign_eof",
                    version,
                    if save { "-sess_out" } else { "-sess_in" },
                ])
                .arg(&sess)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .and_then(|mut ch| {
                    ch.stdin
                        .take()
                        .unwrap()
                        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                    ch.wait_with_output()
                })
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let first = run(true);
        assert!(first.contains("New, TLSv1."), "{version}: {first}");
        let resumed = (0..4).filter(|_| run(false).contains("Reused, TLSv1.")).count();
        assert_eq!(
            resumed,
            4,
            "{version}: every worker resumes through the shared dict\n{}",
            p.log()
        );
    }
    assert!(p.log().contains("fetch found"), "{}", p.log());
    signal(child.id() as i32, 15);
    child.wait().unwrap();
}

/// proxy_connect_timeout: an upstream whose accept queue is full never completes the
/// handshake (its SYNs go unanswered), as a server behind a black hole: the try ends at the
/// timeout with nginx's 504 and line.
#[test]
fn proxy_connect_timeout_ends_a_connect_that_is_never_answered() {
    use std::os::fd::AsRawFd;
    unsafe extern "C" {
        fn listen(fd: i32, backlog: i32) -> i32;
    }
    // a listener that never accepts, its queue shortened to one and then filled
    let blocked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen() again on a socket we own only changes its backlog.
    assert_eq!(unsafe { listen(blocked.as_raw_fd(), 0) }, 0);
    let addr = blocked.local_addr().unwrap();
    let mut queued = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        queued.push(s);
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    let p = Prefix::new("connect-timeout");
    let port = port();
    p.conf(&format!(
        "worker_processes 1;\ndaemon off;\nmaster_process off;\nerror_log logs/error.log info;\nevents {{ worker_connections 64; }}\nhttp {{ access_log off;\n server {{ listen 127.0.0.1:{port}; location / {{ proxy_connect_timeout 300ms; proxy_pass http://{addr}; }} }} }}\n"
    ));
    let mut child = start_master(&p);
    let started = Instant::now();
    let resp = fetch(port, "/").unwrap();
    let took = started.elapsed();
    assert!(resp.starts_with("HTTP/1.1 504"), "{resp}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    assert!(
        p.log()
            .contains("upstream timed out (110: Connection timed out) while connecting to upstream"),
        "{}",
        p.log()
    );
    signal(child.id() as i32, 15);
    let _ = child.wait();
}
