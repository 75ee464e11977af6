#!/usr/bin/env python3
"""Failed requests under faults: wrk against 2 workers while the master is reloaded (HUP
every 0.5 s), while a worker is killed (SIGKILL every 2 s), and beside 1,000 slowloris
connections. Failed = wrk's socket errors (connect, read, write, timeout) + non-2xx/3xx
answers. Not a timed test: a measurement, recorded in docs/benchmarks.md.

Usage: bench/faults.py [reload] [kill] [slowloris]   DURATION=30 (seconds per scenario);
       SERVERS=oxiresty,nginx (Debian's nginx beside it, same config)
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from run import children_of  # noqa: E402  (a master's live children, from /proc)
OXR = os.environ.get("OXR", os.path.join(ROOT, "target/release/oxiresty"))
DURATION = int(os.environ.get("DURATION", "30"))
SERVERS = os.environ.get("SERVERS", "oxiresty,nginx").split(",")
PORT = 18480

CONF = """worker_processes 2;
daemon off;
master_process on;
pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_header_timeout 5s;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def start(server, prefix):
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    os.makedirs(os.path.join(prefix, "conf"), exist_ok=True)
    conf = os.path.join(prefix, "conf/nginx.conf")
    with open(conf, "w") as f:
        f.write(CONF.format(prefix=prefix, port=PORT))
    binary = OXR if server == "oxiresty" else "/usr/sbin/nginx"
    proc = subprocess.Popen([binary, "-p", prefix + "/", "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{server} did not start")


def wrk(duration):
    return subprocess.Popen(["wrk", "-t1", "-c50", f"-d{duration}s", f"http://127.0.0.1:{PORT}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def failures(out):
    """(requests, failed) from wrk's report."""
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    failed = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        failed += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        failed += int(m.group(1))
    return requests, failed


def reload(proc):
    w = wrk(DURATION)
    end = time.time() + DURATION - 1
    hups = 0
    while time.time() < end:
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
        hups += 1
    out = w.communicate()[0]
    requests, failed = failures(out)
    return f"{hups} reloads: {failed} failed of {requests} requests"


def kill(proc):
    w = wrk(DURATION)
    end = time.time() + DURATION - 1
    kills = 0
    while time.time() < end:
        time.sleep(2)
        ws = children_of(proc.pid)
        if ws:
            os.kill(ws[0], signal.SIGKILL)
            kills += 1
    out = w.communicate()[0]
    requests, failed = failures(out)
    return f"{kills} workers killed: {failed} failed of {requests} requests"


def slowloris(proc):
    socks = []
    for _ in range(1000):
        s = socket.create_connection(("127.0.0.1", PORT))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    w = wrk(DURATION)
    # a header line now and then, never the end of the head
    end = time.time() + DURATION - 1
    while time.time() < end:
        time.sleep(1)
        for s in socks:
            try:
                s.sendall(b"X-A: 1\r\n")
            except OSError:
                pass
    out = w.communicate()[0]
    requests, failed = failures(out)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(4096) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return f"1000 slowloris: {failed} failed of {requests} requests; {closed} of them closed by the server"


SCENARIOS = {"reload": reload, "kill": kill, "slowloris": slowloris}


def main():
    wanted = sys.argv[1:] or list(SCENARIOS)
    for server in SERVERS:
        for name in wanted:
            prefix = tempfile.mkdtemp(prefix=f"faults-{server}-")
            proc = start(server, prefix)
            try:
                print(f"{server:9} {name:10} {SCENARIOS[name](proc)}", flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
            time.sleep(1)


if __name__ == "__main__":
    main()
