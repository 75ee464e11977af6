#!/usr/bin/env python3
"""Hot loops inside one request: operations per second of one API family, oxiresty next
to Debian's nginx + lua-nginx-module + lua-resty-core + lua-cjson.

Each loop runs in a content_by_lua_block: a warm-up, then N iterations in SLICES slices,
each timed with os.clock() (the worker's CPU time); a round's result is its fastest
slice, since other tenants of this shared machine only ever slow a slice down (a burst
of theirs spoils one slice, not the round). One request per round, ROUNDS rounds
alternating the servers, medians and the ratio oxiresty/nginx, and the ratio of the best
rounds.

Usage: bench/hotloops.py [loop ...]   (loops: see LOOPS; all when none is given)
"""
import os, statistics, subprocess, sys, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: prefixes, start/stop, tools)

ROUNDS = int(os.environ.get("ROUNDS", "5"))
SLICES = int(os.environ.get("SLICES", "5"))

# name: (setup code, loop body, iterations); `i` is the loop counter
LOOPS = {
    "shdict_get": ('local d = ngx.shared.d; d:set("key", "value")', 'local v = d:get("key")', 5_000_000),
    "shdict_set": ("local d = ngx.shared.d", 'd:set("key", i)', 5_000_000),
    "re_find": ('local find = ngx.re.find; local s = "hello 12345 world"', 'local from, to = find(s, [[\\d+]], "jo")', 2_000_000),
    "re_gsub": ('local gsub = ngx.re.gsub; local s = "a b c d e f"', 'local r = gsub(s, " ", "-", "jo")', 1_000_000),
    # (the result goes to a table so that the JIT cannot drop the lookup)
    "lrucache_get": ('local c = require("resty.lrucache").new(200); local keys, out = {}, {}; '
                     'for k = 1, 100 do keys[k] = "key" .. k; c:set(keys[k], k) end',
                     "out[1] = c:get(keys[i % 100 + 1])", 10_000_000),
    "cjson_encode": ('local cjson = require "cjson"; local t = {} for k = 1, 20 do t["key" .. k] = string.rep("v", 40) end',
                     "local s = cjson.encode(t)", 200_000),
    "cjson_decode": ('local cjson = require "cjson"; local t = {} for k = 1, 20 do t["key" .. k] = string.rep("v", 40) end; '
                     "local s = cjson.encode(t)", "local v = cjson.decode(s)", 200_000),
    # The floor of an exact LRU get, the same in both VMs: one key -> node lookup, the node
    # moved to the front of a doubly linked FFI list, the value read; no cache module.
    "lru_floor": ('local ffi = require "ffi"; '
                  'ffi.cdef "typedef struct floor_node_s { struct floor_node_s *prev, *next; double e; int32_t slot; } floor_node_t;"; '
                  'local nodes = ffi.new("floor_node_t[?]", 101); local head = nodes + 0; head.prev, head.next = head, head; '
                  'local index, vals, keys, out = {}, {}, {}, {}; '
                  'for k = 1, 100 do keys[k] = "key" .. k; local n = nodes + k; n.slot = k; vals[k] = k; index[keys[k]] = n; '
                  'local f = head.next; n.prev, n.next, f.prev, head.next = head, f, n, n end',
                  "local n = index[keys[i % 100 + 1]]; local p, x = n.prev, n.next; p.next, x.prev = x, p; "
                  "local f = head.next; n.prev, n.next, f.prev, head.next = head, f, n, n; out[1] = vals[n.slot]",
                  10_000_000),
}


def location(name):
    setup, body, n = LOOPS[name]
    return f"""location / {{
        content_by_lua_block {{
            {setup}
            for i = 1, {n // 10} do {body} end
            local best = math.huge
            for _ = 1, {SLICES} do
                local t0 = os.clock()
                for i = 1, {n // SLICES} do {body} end
                best = math.min(best, os.clock() - t0)
            end
            ngx.say(math.floor({n // SLICES} / best))
        }}
    }}"""


def measure(server, name):
    prefix = run.write_prefix(location(name), server, http_extra="lua_shared_dict d 10m;")
    proc, _ = run.start(server, prefix)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{run.PORT}/", timeout=120) as r:
            return int(r.read().decode().strip())
    except Exception as e:
        log = open(os.path.join(prefix, "logs/error.log")).read()[-1500:]
        raise SystemExit(f"{server} {name}: {e}\n{log}")
    finally:
        run.stop(proc)
        subprocess.run(["rm", "-rf", prefix])


def main():
    wanted = sys.argv[1:] or list(LOOPS)
    unknown = [w for w in wanted if w not in LOOPS]
    if unknown:
        sys.exit(f"unknown loop(s) {', '.join(unknown)}; choose from {', '.join(LOOPS)}")
    run.ensure_tools()
    lines = []
    for name in wanted:
        results = {"oxiresty": [], "nginx": []}
        for _ in range(ROUNDS):
            for server in results:
                results[server].append(measure(server, name))
                time.sleep(0.2)
        o, n = statistics.median(results["oxiresty"]), statistics.median(results["nginx"])
        # (the best round too: interference from other tenants only ever slows a round)
        bo, bn = max(results["oxiresty"]), max(results["nginx"])
        print(name, results, flush=True)
        lines.append(f"| {name} | {o:,.0f} | {n:,.0f} | {o / n:.2f} | {bo / bn:.2f} |")
    print("\n| loop | oxiresty ops/s (median) | nginx ops/s (median) | ratio of medians | ratio of bests |"
          "\n|---|---|---|---|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
