//! The servers some spec files talk to: a redis-server and a memcached on loopback, with
//! the Debian packages of the Lua client libraries the files use. What a run needs is
//! installed when missing (apt-get, as root: CI runs as root) and started on a free port,
//! named to the blocks as `$TEST_NGINX_REDIS_PORT` / `$TEST_NGINX_MEMCACHED_PORT`, as
//! OpenResty's own suites name them. Nothing is skipped: a service that cannot be had
//! fails the run with the reason.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started server, stopped when dropped.
pub struct Service {
    pub var: &'static str,
    pub port: u16,
    child: Child,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Debian packages a spec file's Lua code and servers need.
const PACKAGES: &[&str] = &[
    "redis-server",
    "memcached",
    "lua-nginx-redis",
    "lua-nginx-memcached",
    "lua-nginx-dns",
    "lua-nginx-websocket",
    "lua-nginx-string",
];

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs what is missing of [`PACKAGES`].
pub fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("spec: installing {}", missing.join(" "));
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("apt-get: {e}"))
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq"];
    args.extend(&missing);
    let st = apt(&args)?;
    if !st.success() {
        return Err(format!("apt-get install {} failed ({st})", missing.join(" ")));
    }
    Ok(())
}

/// Starts the services `text` (every selected block's sections) names.
pub fn start(text: &str, free_port: impl Fn() -> u16) -> Result<Vec<Service>, String> {
    let mut out = Vec::new();
    if text.contains("$TEST_NGINX_REDIS_PORT") {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        out.push(ready(Service {
            var: "TEST_NGINX_REDIS_PORT",
            port,
            child,
        })?);
    }
    if text.contains("$TEST_NGINX_MEMCACHED_PORT") {
        let port = free_port();
        let child = Command::new("memcached")
            .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0", "-u", "root"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("memcached: {e}"))?;
        out.push(ready(Service {
            var: "TEST_NGINX_MEMCACHED_PORT",
            port,
            child,
        })?);
    }
    Ok(out)
}

/// Waits until the service takes connections.
fn ready(s: Service) -> Result<Service, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok() {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{} on port {} did not start", s.var, s.port))
}
