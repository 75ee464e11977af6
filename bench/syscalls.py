#!/usr/bin/env python3
"""System calls per request, oxiresty next to nginx, counted by the kernel's syscall
tracepoints (`perf stat -e syscalls:sys_enter_*` on the worker) under wrk's load.

Where the two servers spend equal kernel time or not, this says whether they ask the
kernel for the same work (a split write, an extra epoll_wait, a read that finds nothing).

Usage: bench/syscalls.py [scenario ...]   (scenarios of bench/run.py; default lua_redis)
       SERVERS=oxiresty,nginx; DURATION=5s
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run)

SERVERS = os.environ.get("SERVERS", "oxiresty,nginx").split(",")
DURATION = os.environ.get("DURATION", "5s")
CALLS = ["epoll_wait", "epoll_pwait", "epoll_ctl", "recvfrom", "read", "readv", "sendto", "write",
         "writev", "sendmsg", "recvmsg", "sendfile64", "accept4", "socket", "connect", "shutdown",
         "close", "setsockopt", "getsockopt", "getsockname", "ioctl", "fcntl", "openat", "newfstatat",
         "futex", "io_uring_enter"]


def count(server, scenario):
    """{event: count per request} for one server under wrk's load."""
    location, path = run.SCENARIOS[scenario]
    prefix = run.write_prefix(location, server, http_extra=run.HTTP_EXTRA.get(scenario, ""))
    proc, worker = run.start(server, prefix, 1)
    events = ",".join(f"syscalls:sys_enter_{c}" for c in CALLS) + ",raw_syscalls:sys_enter"
    try:
        perf = subprocess.Popen(["perf", "stat", "-x,", "-e", events, "-p", ",".join(map(str, worker))],
                                stderr=subprocess.PIPE, text=True)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c50", "-d" + DURATION]
                             + run.WRK_HEADERS.get(scenario, []) + [f"http://127.0.0.1:{run.PORT}{path}"],
                             capture_output=True, text=True, check=True).stdout
        perf.send_signal(2)
        err = perf.communicate()[1]
    finally:
        run.stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    counts = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].strip().isdigit():
            name = f[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "all")
            counts[name] = int(f[0]) / max(total, 1)
    if not counts:
        raise SystemExit(f"perf counted nothing: {err.strip()[-500:]}")
    return counts


def main():
    wanted = sys.argv[1:] or ["lua_redis"]
    with run.services(wanted, run.SCENARIOS, tool="perf", package="linux-perf"):
        print("| scenario | system call | " + " | ".join(SERVERS) + " |")
        print("|---" * (len(SERVERS) + 2) + "|")
        for scenario in wanted:
            per = {s: count(s, scenario) for s in SERVERS}
            names = sorted({n for c in per.values() for n, v in c.items() if v >= 0.001},
                           key=lambda n: (n == "all", n))
            for n in names:
                print(f"| {scenario} | {n} | " + " | ".join(f"{per[s].get(n, 0):.3f}" for s in SERVERS) + " |")


if __name__ == "__main__":
    main()
