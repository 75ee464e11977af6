//! The spec-test runner: runs every `t/*.t` block (Test::Nginx format) against the real
//! binary, started as Test::Nginx starts nginx (`daemon on; master_process off;`, stopped by
//! SIGQUIT to the pid in the pid file). Blocks run in parallel, each on its own port/prefix.
//!
//! `cargo test --release --test spec -- FILTER` runs the blocks whose file or name contains
//! FILTER.

mod block;
mod client;
mod services;
mod tcp_server;
mod udp_server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use block::{Block, Value};

const BIN: &str = env!("CARGO_BIN_EXE_oxiresty");

/// The Test::Nginx sections this runner carries out.
const SECTIONS: &[&str] = &[
    "config",
    "http_config",
    "main_config",
    "user_files",
    "log_level",
    "must_die",
    "request",
    "pipelined_requests",
    "raw_request",
    "raw_request_middle_delay",
    "more_headers",
    "timeout",
    "wait",
    "ignore_response",
    "abort",
    "http09",
    "error_code",
    "response_body",
    "response_body_like",
    "response_headers",
    "response_headers_like",
    "raw_response_headers_like",
    "error_log",
    "no_error_log",
    "shutdown_error_log",
    "no_shutdown_error_log",
    "ONLY",
    "SKIP",
    "tcp_listen",
    "tcp_reply",
    "tcp_query",
    "tcp_query_len",
    "tcp_query_auto_timeout",
    "tcp_reply_delay",
    "tcp_no_close",
    "tcp_shutdown",
    "udp_listen",
    "udp_reply",
    "udp_query",
    "udp_reply_delay",
];

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("t"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "t"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut blocks = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for f in &files {
        let name = f.strip_prefix(root).unwrap_or(f).display().to_string();
        let src = std::fs::read_to_string(f).unwrap_or_default();
        match block::parse_file(&name, &src) {
            Ok(mut bs) => {
                // every block has its own config: Test::Nginx would reuse the previous
                // block's (without restarting the server) or bail out, which our runner
                // cannot mirror block by block
                // a section our runner does not know would pass unchecked: refuse it
                for b in &bs {
                    for name in b.sections.keys().filter(|n| !SECTIONS.contains(&n.as_str())) {
                        failures.push(format!(
                            "{}:{} \"{}\": section --- {name} is not supported by this runner",
                            b.file, b.line, b.name
                        ));
                    }
                }
                for b in bs.iter().filter(|b| !b.has("config")) {
                    failures.push(format!("{}:{} \"{}\": no --- config section", b.file, b.line, b.name));
                }
                if let Some(only) = bs.iter().position(|b| b.has("ONLY")) {
                    bs = vec![bs.swap_remove(only)];
                }
                blocks.extend(bs);
            }
            Err(e) => failures.push(e),
        }
    }
    let skipped = blocks.iter().filter(|b| b.has("SKIP")).count();
    blocks.retain(|b| !b.has("SKIP"));
    if let Some(f) = &filter {
        blocks.retain(|b| b.file.contains(f.as_str()) || b.name.contains(f.as_str()));
    }
    // the servers and Debian Lua libraries the selected blocks use
    let all_text: String = blocks
        .iter()
        .flat_map(|b| b.sections.values().map(Value::text))
        .collect();
    let services_running = if all_text.contains("$TEST_NGINX_REDIS_PORT")
        || all_text.contains("$TEST_NGINX_MEMCACHED_PORT")
        || all_text.contains("/usr/share/lua/5.1")
    {
        if let Err(e) = services::ensure_packages() {
            eprintln!("spec: {e}");
            std::process::exit(1);
        }
        match services::start(&all_text, free_port) {
            Ok(started) => {
                let vars = started
                    .iter()
                    .map(|s| (format!("${}", s.var), s.port.to_string()))
                    .collect();
                let _ = SERVICE_VARS.set(vars);
                started
            }
            Err(e) => {
                eprintln!("spec: {e}");
                std::process::exit(1);
            }
        }
    } else {
        Vec::new()
    };
    let total = blocks.len();
    let work = Arc::new(Mutex::new(blocks));
    let fails = Arc::new(Mutex::new(failures));
    let done = Arc::new(AtomicUsize::new(0));
    let scratch = std::env::temp_dir().join(format!("oxiresty-spec-{}", std::process::id()));
    let threads = std::env::var("SPEC_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(8);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (work, fails, done, scratch) = (work.clone(), fails.clone(), done.clone(), scratch.clone());
            std::thread::spawn(move || {
                loop {
                    let Some(b) = work.lock().expect("lock").pop() else {
                        break;
                    };
                    let n = done.fetch_add(1, Ordering::Relaxed);
                    let dir = scratch.join(format!("b{n}"));
                    if let Err(e) = run_block(&b, &dir) {
                        fails
                            .lock()
                            .expect("lock")
                            .push(format!("{}:{} \"{}\"\n{e}", b.file, b.line, b.name));
                    } else {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let fails = fails.lock().expect("lock");
    for f in fails.iter() {
        eprintln!("FAIL {f}\n");
    }
    eprintln!(
        "spec: {} blocks, {} failed, {skipped} skipped, {:.1}s",
        total,
        fails.len(),
        start.elapsed().as_secs_f64()
    );
    // (exit skips destructors: the servers stop first)
    drop(services_running);
    if fails.is_empty() {
        let _ = std::fs::remove_dir_all(&scratch);
    } else {
        std::process::exit(1);
    }
}

static NEXT_PORT: AtomicUsize = AtomicUsize::new(0);

/// `$TEST_NGINX_REDIS_PORT` and the like: the services started for this run.
static SERVICE_VARS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// A port below the kernel's ephemeral range (so client sockets never take it), free now.
fn free_port() -> u16 {
    if NEXT_PORT.load(Ordering::Relaxed) == 0 {
        let base = 10_000 + (std::process::id() as usize * 7919) % 15_000;
        let _ = NEXT_PORT.compare_exchange(0, base, Ordering::Relaxed, Ordering::Relaxed);
    }
    loop {
        let p = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
        let p = (10_000 + (p - 10_000) % 20_000) as u16;
        if std::net::TcpListener::bind(("0.0.0.0", p)).is_ok() {
            return p;
        }
    }
}

/// `$TEST_NGINX_RAND_PORT_N`: a free port per N, the same in every section of a block.
fn rand_ports(b: &Block) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = Vec::new();
    let text: String = b.sections.values().map(Value::text).collect();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("$TEST_NGINX_RAND_PORT_") {
        let after = &rest[i + 1..];
        let digits = after["TEST_NGINX_RAND_PORT_".len()..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let name = after[.."TEST_NGINX_RAND_PORT_".len() + digits].to_string();
        if digits > 0 && !out.iter().any(|(n, _)| *n == name) {
            out.push((name, free_port()));
        }
        rest = after;
    }
    // (longest names first: _10 before _1)
    out.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    out
}

/// Writes the config Test::Nginx would write around the block's snippets.
fn write_conf(b: &Block, dir: &Path, port: u16, rand: &[(String, u16)]) -> std::io::Result<()> {
    for d in ["conf", "logs", "html", "client_body_temp"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    // (as Test::Nginx writes it)
    std::fs::write(
        dir.join("html/index.html"),
        "<html><head><title>It works!</title></head><body>It works!</body></html>",
    )?;
    let p = dir.display();
    let subst = |s: String| substitute(&s, dir, port, rand);
    let config = subst(b.text("config").unwrap_or_default());
    let default_loc = if b.no_root_location {
        String::new()
    } else {
        format!(
            "        location / {{\n            root {p}/html;\n            index index.html index.htm;\n        }}\n"
        )
    };
    let conf = format!(
        "worker_processes  1;\ndaemon on;\nmaster_process off;\nerror_log {p}/logs/error.log {level};\npid {p}/logs/nginx.pid;\nenv MOCKEAGAIN_VERBOSE;\n\n{main}\n\nevents {{\n    accept_mutex off;\n    worker_connections  64;\n}}\n\nhttp {{\n    access_log {p}/logs/access.log;\n    client_body_temp_path {p}/client_body_temp;\n    proxy_temp_path {p}/proxy_temp;\n    fastcgi_temp_path {p}/fastcgi_temp;\n    scgi_temp_path {p}/scgi_temp;\n    uwsgi_temp_path {p}/uwsgi_temp;\n    default_type text/plain;\n    keepalive_timeout  68000ms;\n\n{http}\n\n    server {{\n        listen          {port};\n        server_name     'localhost';\n        client_max_body_size 30M;\n\n{config}\n{default_loc}    }}\n}}\n\nuser root;\n",
        level = b
            .text("log_level")
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| "debug".into()),
        main = subst(b.text("main_config").unwrap_or_default()),
        http = subst(b.text("http_config").unwrap_or_default()),
    );
    std::fs::write(dir.join("conf/nginx.conf"), conf)?;
    if let Some(files) = b.text("user_files") {
        write_user_files(&files, &dir.join("html"))?;
    }
    Ok(())
}

/// Test::Nginx's `$TEST_NGINX_*` placeholders: the port, the html dir, the prefix, and any
/// `TEST_NGINX_*` environment variable.
fn substitute(s: &str, dir: &Path, port: u16, rand: &[(String, u16)]) -> String {
    let mut out = s.to_string();
    for (name, p) in rand {
        out = out.replace(&format!("${name}"), &p.to_string());
    }
    for (var, value) in SERVICE_VARS.get().into_iter().flatten() {
        out = out.replace(var, value);
    }
    let mut out = out
        .replace("$TEST_NGINX_SERVER_PORT", &port.to_string())
        .replace("$TEST_NGINX_HTML_DIR", &dir.join("html").display().to_string())
        .replace("$TEST_NGINX_SERVER_ROOT", &dir.display().to_string());
    // (the test certificates; the real harness is given the same directory by .ci/run)
    if std::env::var_os("TEST_NGINX_CERT_DIR").is_none() {
        out = out.replace("$TEST_NGINX_CERT_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/t/cert"));
    }
    for (k, v) in std::env::vars() {
        if k.starts_with("TEST_NGINX_") {
            out = out.replace(&format!("${k}"), &v);
        }
    }
    out
}

/// `>>> path` headed files, written under html/.
fn write_user_files(spec: &str, html: &Path) -> std::io::Result<()> {
    let mut cur: Option<(String, String)> = None;
    let flush = |c: Option<(String, String)>| -> std::io::Result<()> {
        if let Some((name, body)) = c {
            let path = html.join(name.trim());
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, body)?;
        }
        Ok(())
    };
    for line in spec.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix(">>> ") {
            flush(cur.take())?;
            cur = Some((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = cur.as_mut() {
            body.push_str(line);
        }
    }
    flush(cur)
}

fn regex_check(re: &str, text: &str) -> Result<bool, String> {
    let r = pcre2::bytes::RegexBuilder::new()
        .build(re)
        .map_err(|e| format!("bad regex {re:?}: {e}"))?;
    r.is_match(text.as_bytes()).map_err(|e| e.to_string())
}

fn run_block(b: &Block, dir: &Path) -> Result<(), String> {
    // another run on this machine may take our port between the check and the bind: retry
    for _ in 0..3 {
        match run_block_once(b, dir) {
            Err(e) if e.contains("Address already in use") => continue,
            other => return other,
        }
    }
    run_block_once(b, dir)
}

fn run_block_once(b: &Block, dir: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    let port = free_port();
    let rand = rand_ports(b);
    write_conf(b, dir, port, &rand).map_err(|e| format!("writing the prefix: {e}"))?;
    let tcp = match b.text("tcp_listen") {
        Some(target) => Some(tcp_server::start(b, &substitute(&target, dir, port, &rand))?),
        None => None,
    };
    let udp = match b.text("udp_listen") {
        Some(target) => Some(udp_server::start(b, &substitute(&target, dir, port, &rand))?),
        None => None,
    };
    let err_log = dir.join("logs/error.log");
    let out = Command::new(BIN)
        .arg("-e")
        .arg(&err_log)
        .arg("-p")
        .arg(format!("{}/", dir.display()))
        .arg("-c")
        .arg(dir.join("conf/nginx.conf"))
        .output()
        .map_err(|e| format!("cannot run {BIN}: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if b.has("must_die") {
        if out.status.success() {
            let pid = wait_pid(dir);
            if let Some(pid) = pid {
                stop(pid);
            }
            return Err("the server started but must_die was expected".into());
        }
        return check_logs(
            b,
            &format!("{stderr}{}", std::fs::read_to_string(&err_log).unwrap_or_default()),
            "error_log",
            "no_error_log",
        );
    }
    if !out.status.success() {
        return Err(format!(
            "the server failed to start ({}):\n{stderr}{}",
            out.status,
            std::fs::read_to_string(&err_log).unwrap_or_default()
        ));
    }
    let Some(pid) = wait_pid(dir) else {
        return Err(format!("no pid file appeared\n{stderr}"));
    };
    let result = exercise(b, port, &err_log);
    if let Some(w) = b.text("wait") {
        std::thread::sleep(Duration::from_secs_f64(w.trim().parse().unwrap_or(0.0)));
    }
    // as Test::Nginx: the error log is read while the server still runs; what it writes
    // when it stops is for `shutdown_error_log`
    let log = std::fs::read_to_string(&err_log).unwrap_or_default();
    stop(pid);
    result?;
    if let Some(tcp) = tcp {
        tcp.check(b)?;
    }
    if let Some(udp) = udp {
        udp.check(b)?;
    }
    check_logs(b, &log, "error_log", "no_error_log")?;
    let log = std::fs::read_to_string(&err_log).unwrap_or_default();
    check_logs(b, &log, "shutdown_error_log", "no_shutdown_error_log")
}

fn wait_pid(dir: &Path) -> Option<i32> {
    let path = dir.join("logs/nginx.pid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(pid) = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok()) {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// SIGQUIT, as Test::Nginx stops nginx; waits until the process is gone (TERM, then KILL).
fn stop(pid: i32) {
    // a daemon is not our child: once it exits it may linger as a zombie until init reaps it
    let alive = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    };
    for (sig, wait_ms) in [(3, 5000u64), (15, 2000), (9, 2000)] {
        unsafe { libc_kill(pid, sig) };
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        while Instant::now() < deadline {
            if !alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// One connection's worth of what a block sends: the bytes and each request's method.
struct Exchange {
    data: Vec<u8>,
    /// Pieces of a `raw_request` array after the first, each sent after
    /// `raw_request_middle_delay`.
    later: Vec<Vec<u8>>,
    methods: Vec<String>,
}

/// Sends the block's requests and checks each response, as Test::Nginx does: a
/// `raw_request` is one request (only the first response counts), `pipelined_requests`
/// go on one connection and a `request eval [...]` list on one connection each; with more
/// than one request, every check section must be an array, read by the request's index.
fn exercise(b: &Block, port: u16, err_log: &Path) -> Result<(), String> {
    let timeout = Duration::from_secs_f64(b.text("timeout").and_then(|t| t.trim().parse().ok()).unwrap_or(3.0));
    // (an array gives each request its own headers)
    let more = |i: usize| match b.get("more_headers") {
        Some(Value::List(l)) => l.get(i).map(Value::text).unwrap_or_default(),
        Some(v) => v.text(),
        None => String::new(),
    };
    let list = |v: &Value| match v {
        Value::List(l) | Value::Group(l) => l.iter().map(Value::bytes).collect::<Vec<_>>(),
        other => vec![other.bytes()],
    };
    let (exchanges, need_array) = if let Some(raw) = b.get("raw_request") {
        let mut pieces = list(raw).into_iter();
        let data = pieces.next().unwrap_or_default();
        let method = String::from_utf8_lossy(&data)
            .split_whitespace()
            .next()
            .unwrap_or("GET")
            .to_string();
        let one = Exchange {
            data,
            later: pieces.collect(),
            methods: vec![method],
        };
        (vec![one], false)
    } else if let Some(p) = b.get("pipelined_requests") {
        let reqs = list(p);
        let mut one = Exchange {
            data: Vec::new(),
            later: Vec::new(),
            methods: Vec::new(),
        };
        for (i, r) in reqs.iter().enumerate() {
            let (bytes, m) = client::build_request(r, &more(i), port, i + 1 == reqs.len());
            one.data.extend(bytes);
            one.methods.push(m);
        }
        (vec![one], true)
    } else if let Some(r) = b.get("request") {
        let reqs = list(r);
        let many = reqs.len() > 1;
        let exchanges = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (data, m) = client::build_request(r, &more(i), port, true);
                Exchange {
                    data,
                    later: Vec::new(),
                    methods: vec![m],
                }
            })
            .collect();
        (exchanges, many)
    } else {
        return Ok(());
    };
    if need_array && !b.accum_log && (b.has("error_log") || b.has("no_error_log")) {
        return Err(
            "several requests with error-log checks: Test::Nginx checks the log after each \
                    request, reading only the lines since its last check, unless the file calls \
                    check_accum_error_log()"
                .into(),
        );
    }
    let mut index = 0;
    for (n, x) in exchanges.into_iter().enumerate() {
        // as Test::Nginx: between requests on their own connections, the log is checked
        // too (what the first request leaves there must already match)
        if n > 0 {
            let log = std::fs::read_to_string(err_log).unwrap_or_default();
            check_logs(b, &log, "error_log", "no_error_log").map_err(|e| format!("after request {}: {e}", n - 1))?;
        }
        // (`--- abort`: the client gives up at the timeout and closes, as Test::Nginx's)
        let delay = Duration::from_secs_f64(
            b.text("raw_request_middle_delay")
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0.0),
        );
        let raw = match client::exchange(port, &x.data, &x.later, delay, timeout) {
            Err(e) if b.has("abort") && e.contains("timed out") => continue,
            other => other?,
        };
        if b.has("ignore_response") {
            continue;
        }
        let mut pos = 0;
        for method in &x.methods {
            if pos >= raw.len() {
                // nothing (more) came back: only a block that expects no status accepts that
                if indexed_text(b, "error_code", index, need_array)?.is_some_and(|c| c.trim().is_empty()) {
                    return Ok(());
                }
                return Err(format!("no response to request {index} (connection closed)"));
            }
            // (`--- http09`: the answer is a bare body, as Test::Nginx reads it)
            let (resp, used) = if b.has("http09") {
                let body = raw[pos..].to_vec();
                (
                    client::Response {
                        status: 200,
                        body,
                        ..Default::default()
                    },
                    raw.len() - pos,
                )
            } else {
                client::parse_response(&raw[pos..], method == "HEAD")?
            };
            pos += used;
            if dump(b, index, &resp) {
                index += 1;
                continue;
            }
            check_response(b, &resp, index, need_array)
                .map_err(|e| if need_array { format!("request {index}: {e}") } else { e })?;
            index += 1;
        }
    }
    Ok(())
}

/// `SPEC_DUMP=FILE`: every response's status and body (hex) is appended to FILE, a line
/// each, instead of being checked (for tools that rewrite blocks).
fn dump(b: &Block, index: usize, resp: &client::Response) -> bool {
    let Ok(path) = std::env::var("SPEC_DUMP") else {
        return false;
    };
    let hex: String = resp.body.iter().map(|c| format!("{c:02x}")).collect();
    let line = format!("{}\t{}\t{index}\t{}\t{hex}\n", b.file, b.line, resp.status);
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        use std::io::Write;
        let _ = f.write_all(line.as_bytes());
    }
    true
}

/// A check section's value for request `i`: with several requests it must be an array.
fn indexed(b: &Block, section: &str, i: usize, need_array: bool) -> Result<Option<Value>, String> {
    let Some(v) = b.get(section) else {
        return Ok(None);
    };
    match (v, need_array) {
        (Value::List(l) | Value::Group(l), true) => Ok(l.get(i).cloned()),
        (_, true) => Err(format!(
            "--- {section}: you asked for many requests, the expected results should be arrays as well"
        )),
        (Value::List(l) | Value::Group(l), false) if l.len() == 1 => Ok(l.first().cloned()),
        (v, false) => Ok(Some(v.clone())),
    }
}

fn indexed_text(b: &Block, section: &str, i: usize, need_array: bool) -> Result<Option<String>, String> {
    Ok(indexed(b, section, i, need_array)?.map(|v| v.text()))
}

fn check_response(b: &Block, resp: &client::Response, i: usize, need_array: bool) -> Result<(), String> {
    let want: u16 = match indexed_text(b, "error_code", i, need_array)? {
        Some(code) => code.trim().parse().map_err(|_| format!("bad error_code {code:?}"))?,
        None => 200,
    };
    if resp.status != want {
        return Err(format!(
            "status: got {} want {want}\nbody: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    match indexed(b, "response_body", i, need_array)? {
        Some(Value::Regex(re)) if !regex_check(&re, &body)? => {
            return Err(format!("response_body: {re:?} does not match {body:?}"));
        }
        Some(Value::Regex(_)) | None => {}
        // (bytes compared as they are: a Perl string is bytes)
        Some(want) if resp.body != want.bytes() => {
            let want = want.text();
            return Err(format!("response_body:\n got: {body:?}\nwant: {want:?}"));
        }
        Some(_) => {}
    }
    // (as Test::Nginx: a section's text keeps its last newline, unless `chop`ped)
    if let Some(re) = indexed_text(b, "response_body_like", i, need_array)?
        && !regex_check(&format!("(?s){re}"), &body)?
    {
        return Err(format!("response_body_like: {re:?} does not match {body:?}"));
    }
    if let Some(re) = indexed_text(b, "raw_response_headers_like", i, need_array)?
        && !regex_check(&format!("(?s){re}"), &resp.raw_head)?
    {
        return Err(format!(
            "raw_response_headers_like: {re:?} does not match {:?}",
            resp.raw_head
        ));
    }
    for (section, like) in [("response_headers", false), ("response_headers_like", true)] {
        let Some(spec) = indexed_text(b, section, i, need_array)? else {
            continue;
        };
        for line in spec.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(name) = line.trim().strip_prefix('!') {
                if let Some(v) = resp.header(name.trim()) {
                    return Err(format!("{section}: header {name} should be absent, is {v:?}"));
                }
                continue;
            }
            let (name, want) = line
                .split_once(':')
                .ok_or_else(|| format!("bad {section} line {line:?}"))?;
            let (name, want) = (name.trim(), want.trim());
            let got = resp.header(name);
            let ok = match &got {
                None => want.is_empty(),
                Some(g) if like => regex_check(&format!("^(?:{want})$"), g)?,
                Some(g) => *g == want,
            };
            if !ok {
                return Err(format!(
                    "{section}: {name}: got {got:?} want {want:?}\nall: {:?}",
                    resp.headers
                ));
            }
        }
    }
    Ok(())
}

fn patterns(v: &Value) -> Vec<(bool, String)> {
    match v {
        Value::Regex(r) => vec![(true, r.clone())],
        Value::List(l) | Value::Group(l) => l.iter().flat_map(patterns).collect(),
        Value::Text(_) | Value::Bytes(_) => v
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| (false, l.to_string()))
            .collect(),
    }
}

/// Whether a pattern of `error_log` / `no_error_log` matches a line of the log (Test::Nginx
/// matches line by line: a pattern never spans lines).
fn in_log(is_re: bool, p: &str, log: &str) -> Result<bool, String> {
    for line in log.split_inclusive('\n') {
        let found = if is_re { regex_check(p, line)? } else { line.contains(p) };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks the `wanted` section's patterns are in the log and the `unwanted` one's are not.
fn check_logs(b: &Block, log: &str, wanted: &str, unwanted: &str) -> Result<(), String> {
    if let Some(v) = b.get(wanted) {
        for (is_re, p) in patterns(v) {
            if !in_log(is_re, &p, log)? {
                return Err(format!("{wanted}: {p:?} not found in:\n{log}"));
            }
        }
    }
    if let Some(v) = b.get(unwanted) {
        for (is_re, p) in patterns(v) {
            let found = in_log(is_re, &p, log)?;
            if found {
                return Err(format!("{unwanted}: {p:?} found in:\n{log}"));
            }
        }
    }
    Ok(())
}
