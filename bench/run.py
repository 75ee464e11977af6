#!/usr/bin/env python3
"""Side-by-side benchmark: the same config under oxiresty and under Debian's nginx.

One worker each, the server pinned to CPU 0 and wrk to CPU 1, `wrk -t1 -c50 -d10s`,
alternating oxiresty / nginx ROUNDS times. Reports medians of req/s, p99 latency, server
CPU microseconds per request (utime+stime of the worker from /proc, the honest number
when wrk is the bottleneck), worker RSS, and the ratios oxiresty/nginx.

Usage: bench/run.py [scenario ...]   (scenarios: see main(); all when none is given)
OXR=binary (another build), OXR_B=binary (a second build in the same rounds, reported
beside the first), FLOORS=0 (leave the floor servers out), CONNS=N (wrk's connections).
Installs nginx, wrk and liburing-dev with apt-get when missing.

The `floor` scenario runs bench/floor.c (a server that answers every read with fixed
bytes, no parsing: the kernel's part of a request and nothing else, once with epoll and
once with io_uring) next to B (lua_hello) under both servers: what B costs above what no
server can go below. The `proxy` scenario (D) runs its floor too: `floor proxy`, which
pairs each client connection with an upstream connection of its own and copies bytes
across, unparsed, and `floor proxy-pool`, which does the same through an upstream pool
with nginx's `keepalive N` rules (the connections D's config opens and closes, and no
more).
"""
import contextlib, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OXR = os.environ.get("OXR", os.path.join(ROOT, "target/release/oxiresty"))
# (OXR_B=binary: a second oxiresty build run in the same rounds, reported beside the
# first, to compare two builds in the same minutes; FLOORS=0 leaves the floors out)
OXR_B = os.environ.get("OXR_B")
FLOORS = os.environ.get("FLOORS", "1") != "0"
FLOOR = os.path.join(ROOT, "target/floor")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = os.environ.get("DURATION", "10s")
PORT = 18080

def gateway(content):
    """E: access reads var and headers into ngx.ctx, a header filter, then `content`."""
    return """location / {
        access_by_lua_block {
            local ctx = ngx.ctx
            ctx.addr = ngx.var.remote_addr
            ctx.ua = ngx.req.get_headers()["user-agent"]
        }
        header_filter_by_lua_block { ngx.header["X-Gateway"] = "1" }
        content_by_lua_block {
            local ctx = ngx.ctx
            %s
        }
    }""" % content


GATEWAY = gateway("""ngx.say('{"addr":"', ctx.addr, '","ua":"', ctx.ua or "", '","ok":true}')""")

# E extended (issue 11): the URI parsed by ngx.re, the answer made by cjson
GATEWAY_RE_JSON = gateway("""local m = ngx.re.match(ngx.var.uri, [[^/api/(\\w+)/(\\d+)]], "jo")
            ngx.say(require("cjson").encode({ addr = ctx.addr, ua = ctx.ua or "", kind = m[1], id = m[2], ok = true }))""")

SHDICT = """location / {
        content_by_lua_block {
            local d = ngx.shared.d
            local n = d:incr("k", 1, 0)
            d:set("x" .. (n % 1000), n)
            ngx.say(d:get("x" .. (n % 1000)))
        }
    }"""

# R (issue 12): a resty.redis GET per request, the connection back to the pool after it
REDIS = """location / {
        content_by_lua_block {
            local red = require("nginx.redis"):new()
            red:set_timeout(1000)
            assert(red:connect("127.0.0.1", %d))
            local v = red:get("bench:key")
            red:set_keepalive(10000, 100)
            ngx.say(v)
        }
    }"""
REDIS_PORT = 16390

# P (issue 12): two light threads that sleep 0, both waited for
THREADS = """location / {
        content_by_lua_block {
            local function f(n) ngx.sleep(0) return n end
            local t1 = ngx.thread.spawn(f, 1)
            local t2 = ngx.thread.spawn(f, 2)
            local _, a = ngx.thread.wait(t1)
            local _, b = ngx.thread.wait(t2)
            ngx.say(a + b)
        }
    }"""

# D (issue 13): proxy_pass to an upstream answering 1 KiB, connections kept
PROXY_UPSTREAM_PORT = 18099
# (PROXY_KEEPALIVE=64: no connection churn under wrk's 50 connections, to see what churn costs)
PROXY_KEEPALIVE = os.environ.get("PROXY_KEEPALIVE", "32")
# (FLOOR_KEEPALIVE=N: the floor's pool size alone, to bring its churn to the servers')
FLOOR_KEEPALIVE = os.environ.get("FLOOR_KEEPALIVE", PROXY_KEEPALIVE)
PROXY = """location / {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://backend;
    }"""

SCENARIOS = {
    "return": ("location / { return 200 \"hello\\n\"; }", "/"),
    "static1k": ("location / { root html; }", "/1k.bin"),
    "static100k": ("location / { root html; }", "/100k.bin"),
    # B: Lua hello
    "lua_hello": ("location / { content_by_lua_block { ngx.say(\"hello\") } }", "/"),
    # E: a small gateway: access reads var and headers into ngx.ctx, a header filter,
    # content builds JSON
    "lua_gateway": (GATEWAY, "/"),
    "lua_gateway_re_json": (GATEWAY_RE_JSON, "/api/users/42"),
    # C: a shared dict per request (one worker, then two on both cores)
    "lua_shdict": (SHDICT, "/"),
    "lua_shdict_2w": (SHDICT, "/"),
    "lua_redis": (REDIS % REDIS_PORT, "/"),
    "lua_threads": (THREADS, "/"),
    # S with load: 15,000 connections, each request sleeping 10 ms
    "lua_sleep_15k": ("location / { content_by_lua_block { ngx.sleep(0.01) ngx.say(\"ok\") } }", "/"),
    "proxy": (PROXY, "/"),
    # D-lua: the same through balancer_by_lua, between two servers of the upstream helper
    "proxy_lua": (PROXY, "/"),
    # F-gz: a 100 KiB text file compressed at level 1 for a client that takes gzip
    "static_gz": ("location / { root html; types { text/plain txt; } gzip on; gzip_comp_level 1; gzip_types text/plain; }",
                  "/100k.txt"),
    # TLS: the return scenario over HTTPS keepalive (ECDSA P-256, TLS 1.3), and full
    # handshakes per second (a connection per request, no session cache, no tickets)
    "tls_return": ("location / { return 200 \"hello\\n\"; }", "/"),
    "tls_handshake_ecdsa": ("location / { return 200 \"hello\\n\"; }", "/"),
    "tls_handshake_rsa": ("location / { return 200 \"hello\\n\"; }", "/"),
}

# TLS scenarios: the test certificate (t/cert) each serves
CERT_DIR = os.path.join(ROOT, "t/cert")
TLS = {"tls_return": "test-ecdsa", "tls_handshake_ecdsa": "test-ecdsa", "tls_handshake_rsa": "test-rsa"}

# what a scenario adds at http level, and scenarios with more than one worker
HTTP_EXTRA = {"lua_shdict": "lua_shared_dict d 10m;", "lua_shdict_2w": "lua_shared_dict d 10m;",
              "lua_redis": 'lua_package_path "/usr/share/lua/5.1/?.lua;;";',
              "proxy": "upstream backend { server 127.0.0.1:%d; keepalive %s; }" % (PROXY_UPSTREAM_PORT, PROXY_KEEPALIVE),
              "proxy_lua": """upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            require("ngx.balancer").set_current_peer("127.0.0.1", %d - math.random(2) + 1)
        }
        keepalive %s;
    }""" % (PROXY_UPSTREAM_PORT, PROXY_KEEPALIVE)}
WORKERS = {"lua_shdict_2w": 2}
# request headers a scenario's wrk sends
WRK_HEADERS = {"static_gz": ["-H", "Accept-Encoding: gzip"],
               "tls_handshake_ecdsa": ["-H", "Connection: close"],
               "tls_handshake_rsa": ["-H", "Connection: close"]}
# wrk's connections where a scenario needs more than 50
CONNECTIONS = {"lua_sleep_15k": 15000}

# what Debian's nginx needs to run Lua (oxiresty has it built in)
NGINX_LUA_MAIN = """load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"""
NGINX_LUA_HTTP = 'lua_package_path "/usr/share/lua/5.1/?.lua;;";'


def ensure_tools():
    wanted = {"nginx": "/usr/sbin/nginx", "wrk": "/usr/bin/wrk",
              "libnginx-mod-http-lua": "/usr/lib/nginx/modules/ngx_http_lua_module.so",
              "lua-resty-core": "/usr/share/lua/5.1/resty/core.lua",
              "lua-cjson": "/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so",
              "liburing-dev": "/usr/include/liburing.h"}
    missing = [p for p, f in wanted.items() if not os.path.exists(f)]
    if missing:
        subprocess.run(["apt-get", "install", "-y"] + missing, check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    subprocess.run(["gcc", "-O2", "-o", FLOOR, os.path.join(ROOT, "bench/floor.c"), "-luring"], check=True)


def write_prefix(location, server="oxiresty", connections=4096, http_extra="", workers=1, cert=None):
    d = tempfile.mkdtemp(prefix="oxr-bench-")
    os.chmod(d, 0o755)  # workers run as nobody when started as root
    for sub in ("conf", "logs", "html"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "html/1k.bin"), "wb") as f:
        f.write(b"x" * 1024)
    with open(os.path.join(d, "html/100k.bin"), "wb") as f:
        f.write(b"x" * 102400)
    with open(os.path.join(d, "html/100k.txt"), "wb") as f:
        f.write(text_100k())
    lua = ("_by_lua" in location or "_by_lua" in http_extra) and server == "nginx"
    conf = f"""{NGINX_LUA_MAIN if lua else ""}
worker_processes {workers};
worker_rlimit_nofile {connections + 1000};
daemon off;
error_log logs/error.log error;
pid logs/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
    {NGINX_LUA_HTTP if lua and "lua_package_path" not in http_extra else ""}
    {http_extra}
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{PORT} backlog=4096{" ssl" if cert else ""};
        {tls_lines(cert)}
        {location}
    }}
}}
"""
    with open(os.path.join(d, "conf/nginx.conf"), "w") as f:
        f.write(conf)
    return d


def tls_lines(cert):
    """A TLS scenario's server lines: its certificate, TLS 1.3, nothing resumed."""
    if not cert:
        return ""
    return (f"ssl_certificate {CERT_DIR}/{cert}.crt; ssl_certificate_key {CERT_DIR}/{cert}.key; "
            "ssl_protocols TLSv1.3; ssl_session_cache off; ssl_session_tickets off;")


def text_100k():
    """100 KiB of text with the repetition of markup and JSON (F-gz's file)."""
    words = [b"the", b"quick", b"brown", b"fox", b"jumps", b"over", b"lazy", b"dog", b'<div class="item">',
             b"</div>", b'{"id":', b'"name":', b"value", b"nginx", b"openresty", b"lua"]
    out, x = bytearray(), 12345
    while len(out) < 102400:
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        out += words[x % len(words)] + (b"\n" if x % 7 == 0 else b" ")
    return bytes(out[:102400])


def port_free():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
        return False
    except OSError:
        return True


def start(server, prefix, workers=1):
    # the previous server's listener can outlive it briefly (an io_uring's files are
    # released after the process has exited)
    deadline = time.time() + 5
    while not port_free() and time.time() < deadline:
        time.sleep(0.05)
    if server == "floor-proxy":
        cmd = [FLOOR, "proxy", str(PORT), str(PROXY_UPSTREAM_PORT)]
    elif server == "floor-proxy-pool":
        cmd = [FLOOR, "proxy-pool", str(PORT), str(PROXY_UPSTREAM_PORT), FLOOR_KEEPALIVE]
    elif server.startswith("floor-"):
        cmd = [FLOOR, server[len("floor-"):], str(PORT)]
    elif server == "oxiresty":
        cmd = [OXR, "-p", prefix + "/"]
    elif server == "oxiresty-b":
        cmd = [OXR_B, "-p", prefix + "/"]
    else:
        cmd = ["/usr/sbin/nginx", "-p", prefix + "/", "-c", prefix + "/conf/nginx.conf"]
    cpus = "0" if workers == 1 else "0,1"
    proc = subprocess.Popen(["taskset", "-c", cpus] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline and port_free():
        time.sleep(0.05)
    if server.startswith("floor-"):
        return proc, [proc.pid]  # one process, no workers
    found = []
    while time.time() < deadline and len(found) < workers:
        found = children_of(proc.pid)
        time.sleep(0.05)
    return proc, found


def children_of(pid):
    found = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            stat = open(f"/proc/{e}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(e))
    return found


def cpu_ticks(pids):
    """(user, system) clock ticks the processes have used."""
    user = system = 0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
    return user, system


def rss_kib(pids):
    total = 0
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def stop(proc):
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, total, p99, int(errors.group(1)) if errors else 0


def tcp_counts():
    """The host's TCP connects and segments sent so far (/proc/net/snmp): D's upstream
    connections; segments per request show extra ACKs or split writes (all parties)."""
    lines = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("ActiveOpens")]), int(lines[1][lines[0].index("OutSegs")])


def run_load(server, scenario):
    location, path = SCENARIOS[scenario]
    workers = WORKERS.get(scenario, 1)
    conns = int(os.environ.get("CONNS", "0")) or CONNECTIONS.get(scenario, 50)
    if conns > 1000:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    prefix = write_prefix(location, server, connections=max(4096, conns + 500),
                          http_extra=HTTP_EXTRA.get(scenario, ""), workers=workers, cert=TLS.get(scenario))
    scheme = "https" if scenario in TLS else "http"
    proc, worker = start(server, prefix, workers)
    try:
        hz = os.sysconf("SC_CLK_TCK")
        t0, (opens0, segs0) = cpu_ticks(worker), tcp_counts()
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", "-d" + DURATION, "--latency"]
                             + WRK_HEADERS.get(scenario, []) + [f"{scheme}://127.0.0.1:{PORT}{path}"],
                             capture_output=True, text=True, check=True).stdout
        t1, (opens1, segs1) = cpu_ticks(worker), tcp_counts()
        rps, total, p99, errors = parse_wrk(out)
        if errors:
            log = open(os.path.join(prefix, "logs/error.log")).read()[-2000:]
            raise SystemExit(f"{server} {scenario}: {errors} non-2xx responses\n{log}")
        per_req = lambda ticks: ticks / hz * 1e6 / max(total, 1)
        user_us, sys_us = per_req(t1[0] - t0[0]), per_req(t1[1] - t0[1])
        # (wrk's own connects count too: its connections, once per run)
        return {"rps": rps, "p99_ms": p99, "cpu_us": user_us + sys_us, "user_us": user_us, "sys_us": sys_us,
                "rss_kib": rss_kib(worker), "connects_per_kreq": (opens1 - opens0) * 1000 / max(total, 1),
                "segs_per_req": (segs1 - segs0) / max(total, 1)}
    finally:
        stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def run_idle(server, n=10000):
    """n idle keep-alive connections after one request each: worker RSS per connection.
    Many connections, so that the allocator's slack (memory touched at start and free
    again) does not hide what they cost."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    prefix = write_prefix("location / { return 200 \"hello\\n\"; }", server, n + 500)
    proc, worker = start(server, prefix)
    socks = []
    try:
        # warm up one request, then measure the baseline
        s = socket.create_connection(("127.0.0.1", PORT))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
        s.close()
        time.sleep(0.3)
        before = rss_kib(worker)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            s.recv(4096)
        time.sleep(0.5)
        after = rss_kib(worker)
        return {"rss_per_conn_kib": (after - before) / n, "rss_kib": after}
    finally:
        for s in socks:
            s.close()
        stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def run_sleepers(server, n=15000):
    """S: n connections each held by ngx.sleep(1): worker RSS per suspended request."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    prefix = write_prefix("location / { content_by_lua_block { ngx.sleep(1) ngx.print(\"ok\") } }", server, n + 500)
    proc, worker = start(server, prefix)
    socks = []
    try:
        warm = socket.create_connection(("127.0.0.1", PORT))
        warm.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while warm.recv(4096):
            pass
        warm.close()
        time.sleep(0.3)
        before = rss_kib(worker)
        t0 = time.time()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", PORT))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            socks.append(s)
        during = rss_kib(worker)
        held = time.time() - t0
        answered = 0
        for s in socks:
            s.settimeout(30)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass  # counted as not answered
            if data.endswith(b"ok") or b"\r\n\r\n2\r\nok\r\n0\r\n\r\n" in data:
                answered += 1
        if held > 0.9:
            print(f"warning: {server}: opening {n} connections took {held:.1f}s, some sleeps ended meanwhile")
        return {"rss_per_req_kib": (during - before) / n, "answered": answered, "rss_kib": during}
    finally:
        for s in socks:
            s.close()
        stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def run_timers(server, n=10000):
    """T: n pending ngx.timer.at timers made by one request: worker RSS per timer."""
    location = """location / { content_by_lua_block {
            local f = function(premature) end
            for i = 1, tonumber(ngx.var.arg_n) do
                local ok, err = ngx.timer.at(3600, f)
                if not ok then ngx.say(err) return end
            end
            ngx.say(ngx.timer.pending_count())
        } }"""
    prefix = write_prefix(location, server, http_extra="lua_max_pending_timers %d;" % (n + 100))
    proc, worker = start(server, prefix)
    try:
        import urllib.request
        # warm up with one timer, then measure the baseline
        urllib.request.urlopen(f"http://127.0.0.1:{PORT}/?n=1", timeout=30).read()
        time.sleep(0.3)
        before = rss_kib(worker)
        body = urllib.request.urlopen(f"http://127.0.0.1:{PORT}/?n={n}", timeout=60).read().decode().strip()
        time.sleep(0.3)
        after = rss_kib(worker)
        return {"rss_per_timer_kib": (after - before) / n, "pending": body}
    finally:
        stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def ensure_redis():
    """A redis-server for R, with the key it reads."""
    if not os.path.exists("/usr/bin/redis-server") or not os.path.exists("/usr/share/lua/5.1/nginx/redis.lua"):
        subprocess.run(["apt-get", "install", "-y", "redis-server", "lua-nginx-redis"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    # (a redis-server left on the port would serve R unpinned, sharing CPU 0 with the
    # server measured: R then reads 0.7x for both servers' reasons)
    try:
        socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1).close()
        raise SystemExit(f"port {REDIS_PORT} is taken: stop what listens there (the bench starts its own "
                         "redis-server, pinned to CPU 1)")
    except OSError:
        pass
    proc = subprocess.Popen(["taskset", "-c", "1", "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", REDIS_PORT))
            s.sendall(b"SET bench:key hello\r\n")
            s.recv(100)
            s.close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def ensure_proxy_upstream():
    """D's upstream: Debian's nginx on CPU 1 (beside wrk) answering 1 KiB, the same for
    both servers under test."""
    for port in (PROXY_UPSTREAM_PORT, PROXY_UPSTREAM_PORT - 1):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            raise SystemExit(f"port {port} is served already (a previous run's upstream?): stop it first")
        except OSError:
            pass
    d = tempfile.mkdtemp(prefix="oxr-bench-upstream-")
    os.makedirs(os.path.join(d, "logs"))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
error_log logs/error.log error;
pid logs/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{PROXY_UPSTREAM_PORT};
        listen 127.0.0.1:{PROXY_UPSTREAM_PORT - 1};
        location / {{ return 200 "{'x' * 1023}\\n"; }}
    }}
}}
""")
    proc = subprocess.Popen(["taskset", "-c", "1", "/usr/sbin/nginx", "-p", d + "/", "-c", d + "/nginx.conf"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PROXY_UPSTREAM_PORT)).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the proxy's upstream did not start")


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    every = ["return", "static1k", "static100k", "idle", "lua_hello", "lua_gateway", "lua_gateway_re_json",
             "lua_shdict", "lua_shdict_2w", "lua_redis", "lua_threads", "lua_sleep_15k",
             "sleepers", "timers", "proxy", "proxy_lua", "static_gz", "tls_return", "tls_handshake_ecdsa",
             "tls_handshake_rsa", "floor"]
    wanted = sys.argv[1:] or every
    with services(wanted, every):
        report(wanted)


@contextlib.contextmanager
def services(wanted, known, tool=None, package=None):
    """Checks the scenario names against `known`, installs `tool` (Debian's `package`)
    when missing, and runs the helpers the scenarios need (R's redis, D's upstream)
    around the block."""
    unknown = [w for w in wanted if w not in known]
    if unknown:
        sys.exit(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if tool and not shutil.which(tool):
        subprocess.run(["apt-get", "install", "-y", package], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    ensure_tools()
    redis = ensure_redis() if "lua_redis" in wanted else None
    upstream = ensure_proxy_upstream() if {"proxy", "proxy_lua"} & set(wanted) else None
    try:
        yield
    finally:
        for helper in (redis, upstream):
            if helper:
                # (a graceful stop: nginx's master takes its worker with it, where a
                # SIGKILL would leave the worker serving the port)
                helper.terminate()
                helper.wait(timeout=10)


def report(wanted):
    lines = []
    for scenario in wanted:
        servers = {"floor": ("oxiresty", "nginx", "floor-epoll", "floor-uring"),
                   "proxy": ("oxiresty", "nginx", "floor-proxy", "floor-proxy-pool"),
                   "proxy_lua": ("oxiresty", "nginx", "floor-proxy-pool")}.get(scenario, ("oxiresty", "nginx"))
        servers = tuple(s_ for s_ in servers if FLOORS or not s_.startswith("floor-"))
        if OXR_B:
            servers = ("oxiresty", "oxiresty-b") + servers[1:]
        results = {server: [] for server in servers}
        for _ in range(ROUNDS):
            for server in servers:
                if scenario == "idle":
                    r = run_idle(server)
                elif scenario == "sleepers":
                    r = run_sleepers(server)
                elif scenario == "timers":
                    r = run_timers(server)
                else:
                    r = run_load(server, "lua_hello" if scenario == "floor" else scenario)
                results[server].append(r)
                print(scenario, server, r, flush=True)
        o, n = results["oxiresty"], results["nginx"]
        if scenario == "floor":
            for server in servers:
                rows = results[server]
                label = {"oxiresty": "oxiresty B", "nginx": "nginx B"}.get(server, server)
                lines.append(f"| floor | {label}: CPU µs/req (user, kernel) | {median(rows, 'cpu_us'):.2f} "
                             f"({median(rows, 'user_us'):.2f}, {median(rows, 'sys_us'):.2f}) | "
                             f"{median(n, 'cpu_us'):.2f} | {median(rows, 'cpu_us') / median(n, 'cpu_us'):.2f} |")
            continue
        if scenario == "sleepers":
            lines.append(f"| sleepers: 15000 requests in ngx.sleep(1) | RSS/request {median(o, 'rss_per_req_kib'):.2f} KiB "
                         f"(answered {median(o, 'answered'):.0f}) | {median(n, 'rss_per_req_kib'):.2f} KiB "
                         f"(answered {median(n, 'answered'):.0f}) | "
                         f"{median(o, 'rss_per_req_kib') / max(median(n, 'rss_per_req_kib'), 0.01):.2f} |")
            continue
        if scenario == "timers":
            lines.append(f"| timers: 10000 pending ngx.timer.at | RSS/timer {median(o, 'rss_per_timer_kib'):.3f} KiB | "
                         f"{median(n, 'rss_per_timer_kib'):.3f} KiB | "
                         f"{median(o, 'rss_per_timer_kib') / max(median(n, 'rss_per_timer_kib'), 0.001):.2f} |")
            continue
        if scenario == "idle":
            lines.append(f"| idle keepalive (10000 conns) | RSS/conn {median(o, 'rss_per_conn_kib'):.2f} KiB | "
                         f"{median(n, 'rss_per_conn_kib'):.2f} KiB | "
                         f"{median(o, 'rss_per_conn_kib') / max(median(n, 'rss_per_conn_kib'), 0.01):.2f} |")
            continue
        for key, label in (("rps", "req/s"), ("p99_ms", "p99 ms"), ("cpu_us", "CPU µs/req"),
                           ("user_us", "user CPU µs/req"), ("sys_us", "kernel CPU µs/req"), ("rss_kib", "worker RSS KiB"),
                           ("segs_per_req", "TCP segments sent per request (host)")):
            om, nm = median(o, key), median(n, key)
            lines.append(f"| {scenario} | {label} | {om:.2f} | {nm:.2f} | {om / nm:.2f} |")
            if OXR_B:
                bm = median(results["oxiresty-b"], key)
                lines.append(f"| {scenario} | {label}, build B (OXR_B) | {bm:.2f} | {nm:.2f} | {bm / nm:.2f} |")
        if scenario in ("proxy", "proxy_lua"):
            floors = ", ".join(f"{s_} {median(results[s_], 'connects_per_kreq'):.1f}"
                               for s_ in servers if s_.startswith("floor-"))
            oc, nc = median(o, "connects_per_kreq"), median(n, "connects_per_kreq")
            lines.append(f"| {scenario} | TCP connects per 1,000 requests (upstream churn; {floors}) | "
                         f"{oc:.1f} | {nc:.1f} | {oc / max(nc, 0.01):.2f} |")
            if OXR_B:
                bc = median(results["oxiresty-b"], "connects_per_kreq")
                lines.append(f"| {scenario} | TCP connects per 1,000 requests, build B (OXR_B) | "
                             f"{bc:.1f} | {nc:.1f} | {bc / max(nc, 0.01):.2f} |")
        if "floor-proxy" in results:
            f = results["floor-proxy"]
            lines.append(f"| proxy | floor (bench/floor.c proxy): req/s, CPU µs/req (user, kernel) | "
                         f"{median(f, 'rps'):.0f}, {median(f, 'cpu_us'):.2f} ({median(f, 'user_us'):.2f}, "
                         f"{median(f, 'sys_us'):.2f}) | | CPU {median(o, 'cpu_us') / median(f, 'cpu_us'):.2f}x floor |")
        if "floor-proxy-pool" in results:
            f = results["floor-proxy-pool"]
            lines.append(f"| {scenario} | floor with the upstream pool (bench/floor.c proxy-pool, keepalive "
                         f"{FLOOR_KEEPALIVE}): req/s, CPU µs/req (user, kernel) | {median(f, 'rps'):.0f}, "
                         f"{median(f, 'cpu_us'):.2f} ({median(f, 'user_us'):.2f}, {median(f, 'sys_us'):.2f}) | | "
                         f"nginx {median(n, 'cpu_us') / median(f, 'cpu_us'):.2f}x, oxiresty "
                         f"{median(o, 'cpu_us') / median(f, 'cpu_us'):.2f}x this floor |")
    print("\n| scenario | metric | oxiresty | nginx | ratio |\n|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
