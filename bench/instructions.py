#!/usr/bin/env python3
"""User-space instructions per request, oxiresty next to nginx, counted by valgrind.

Wall-clock numbers on this shared 2-core machine move by 5-10% from run to run; an
instruction count does not move at all, so it tells whether a change to the hot path
helped (it does not see cache misses or the kernel: confirm with bench/run.py).

Each server runs one process (`master_process off`) under callgrind; a small client sends
N keep-alive requests over 10 connections. Two runs (200 and 200+N requests) are
subtracted, so start-up and shutdown cancel out.

Usage: bench/instructions.py [scenario ...]   (scenarios of bench/run.py: return static1k
       lua_hello lua_gateway ...); REQUESTS=N (default 10000); SERVERS=oxiresty,nginx;
       OXR=binary (another build); KEEP=dir (keep the profiles, for callgrind_annotate);
       CACHESIM=1 (also valgrind's simulated cache misses and branch mispredictions per
       request: where equal instructions take unequal time, a hint of why)
"""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

REQUESTS = int(os.environ.get("REQUESTS", "10000"))
SERVERS = os.environ.get("SERVERS", "oxiresty,nginx").split(",")
CACHESIM = os.environ.get("CACHESIM") == "1"
# the simulated events reported with CACHESIM=1: instruction-cache, data-cache (read and
# write) and last-level misses, conditional and indirect branch mispredictions
SIM_EVENTS = ["I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bcm", "Bim"]


def send_requests(path, n, conns=10):
    """n keep-alive GETs over `conns` connections, each answer read whole."""
    socks = [socket.create_connection(("127.0.0.1", run.PORT), timeout=30) for _ in range(conns)]
    req = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\n\r\n".encode()
    bufs = [b""] * conns
    done = 0
    while done < n:
        k = min(conns, n - done)
        for s in socks[:k]:
            s.sendall(req)
        for i in range(k):
            while True:
                end = response_end(bufs[i])
                if end is not None:
                    bufs[i] = bufs[i][end:]
                    break
                chunk = socks[i].recv(65536)
                if not chunk:
                    raise SystemExit("the server closed a connection")
                bufs[i] += chunk
        done += k
    for s in socks:
        s.close()


def response_end(b):
    """Where the first whole response in b ends, or None."""
    h = b.find(b"\r\n\r\n")
    if h < 0:
        return None
    head = b[:h].lower()
    if b"content-length:" in head:
        end = h + 4 + int(head.split(b"content-length:")[1].split(b"\r\n")[0])
    else:
        e = b.find(b"\r\n0\r\n\r\n", h)
        end = e + 7 if e >= 0 else None
    return end if end is not None and len(b) >= end else None


def instructions(server, prefix, path, n):
    out = tempfile.mktemp(prefix="callgrind-")
    cmd = [run.OXR, "-p", prefix + "/"] if server == "oxiresty" else \
        ["/usr/sbin/nginx", "-p", prefix + "/", "-c", prefix + "/conf/nginx.conf"]
    sim = ["--cache-sim=yes", "--branch-sim=yes"] if CACHESIM else []
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--smc-check=all-non-file",
                             f"--callgrind-out-file={out}"] + sim + cmd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", run.PORT), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit(f"{server} did not start under valgrind")
                time.sleep(0.1)
        send_requests(path, n)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    try:
        names = None
        for line in open(out):
            if line.startswith("events:"):
                names = line.split()[1:]
            elif line.startswith(("summary:", "totals:")) and names:
                return dict(zip(names, map(int, line.split()[1:])))
        raise SystemExit(f"no totals in {out}")
    finally:
        # KEEP=dir keeps the profile for callgrind_annotate (which functions cost what)
        if os.environ.get("KEEP"):
            shutil.move(out, os.path.join(os.environ["KEEP"], f"{server}-{n}.callgrind"))
        else:
            os.remove(out)


def main():
    wanted = sys.argv[1:] or ["return", "lua_hello", "lua_gateway"]
    with run.services(wanted, run.SCENARIOS, tool="valgrind", package="valgrind"):
        report(wanted)


def report(wanted):
    events = ["Ir"] + (SIM_EVENTS if CACHESIM else [])
    head = "| scenario | event | " if CACHESIM else "| scenario | "
    print(head + " | ".join(SERVERS) + (" | ratio |" if len(SERVERS) == 2 else " |"))
    print("|---" * (len(SERVERS) + 1 + CACHESIM + (len(SERVERS) == 2)) + "|")
    for scenario in wanted:
        location, path = run.SCENARIOS[scenario]
        counts = []
        for server in SERVERS:
            prefix = run.write_prefix(location, server, http_extra=run.HTTP_EXTRA.get(scenario, ""))
            conf = os.path.join(prefix, "conf/nginx.conf")
            text = open(conf).read().replace("daemon off;", "daemon off;\nmaster_process off;")
            open(conf, "w").write(text)
            try:
                base = instructions(server, prefix, path, 200)
                more = instructions(server, prefix, path, 200 + REQUESTS)
            finally:
                shutil.rmtree(prefix, ignore_errors=True)
            counts.append({e: (more.get(e, 0) - base.get(e, 0)) / REQUESTS for e in events})
        for e in events:
            row = f"| {scenario} | " + (f"{e} | " if CACHESIM else "")
            row += " | ".join(f"{c[e]:.1f}" if c[e] < 100 else f"{c[e]:.0f}" for c in counts)
            if len(counts) == 2:
                row += f" | {counts[0][e] / counts[1][e]:.2f}" if counts[1][e] else " | -"
            print(row + " |", flush=True)


if __name__ == "__main__":
    main()
