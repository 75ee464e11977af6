# More of the Lua surface: modules, headers, phase order with nginx's own directives.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a module that fails while loading
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua_block { require "broken" }
    }
--- user_files
>>> broken.lua
error("module load failed")
--- request
GET /t
--- error_code: 500
--- error_log
module load failed

=== TEST 2: modules are loaded once per worker
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local m = require "counter"
            m.n = m.n + 1
            ngx.say(m.n)
        }
    }
--- user_files
>>> counter.lua
return { n = 0 }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n", "3\n"]

=== TEST 3: globals set by a request persist in the worker's VM
--- config
    location = /t {
        content_by_lua_block {
            hits = (hits or 0) + 1
            ngx.say(hits)
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n"]

=== TEST 4: Set-Cookie with several values
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["Set-Cookie"] = {"a=1; Path=/", "b=2; Path=/"}
            local sent = ngx.resp.get_headers()["set-cookie"]
            ngx.say(#sent, " ", sent[2])
        }
    }
--- request
GET /t
--- response_body
2 b=2; Path=/
--- response_headers
Set-Cookie: a=1; Path=/, b=2; Path=/

=== TEST 5: ngx.req.set_header with several values
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-Multi", {"1", "2"})
            local v = ngx.req.get_headers()["x-multi"]
            ngx.say(v[1], v[2])
        }
    }
--- request
GET /t
--- response_body
12

=== TEST 6: ngx.req.set_header of Host changes $host
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_header("Host", "Other.Example") }
        content_by_lua_block { ngx.say(ngx.var.host, " ", ngx.var.http_host) }
    }
--- request
GET /t
--- response_body
other.example Other.Example

=== TEST 7: return in rewrite runs before access_by_lua
--- config
    location = /t {
        access_by_lua_block { ngx.log(ngx.ERR, "access ran") }
        return 200 "returned\n";
    }
--- request
GET /t
--- response_body
returned
--- no_error_log
access ran

=== TEST 8: rewrite_by_lua runs after the location's set, before access_by_lua
--- config
    location = /t {
        set $trace "set";
        rewrite_by_lua_block { ngx.var.trace = ngx.var.trace .. ",rewrite" }
        access_by_lua_block { ngx.var.trace = ngx.var.trace .. ",access" }
        content_by_lua_block { ngx.say(ngx.var.trace, ",content") }
    }
--- request
GET /t
--- response_body
set,rewrite,access,content

=== TEST 9: try_files falls back to a Lua location
--- config
    location ~ ^/ {
        try_files $uri @app;
    }
    location @app {
        content_by_lua_block { ngx.say("app handles ", ngx.var.uri) }
    }
--- request
GET /no/such/file
--- response_body
app handles /no/such/file

=== TEST 10: Lua content and a static file side by side
--- config
    location = /dyn { content_by_lua_block { ngx.say("dynamic") } }
--- user_files
>>> s.txt
static
--- pipelined_requests eval
["GET /dyn", "GET /s.txt"]
--- response_body eval
["dynamic\n", "static\n"]

=== TEST 11: request_time and msec formats from Lua
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.request_time:match("^%d+%.%d%d%d$") ~= nil, " ", ngx.var.msec:match("^%d+%.%d%d%d$") ~= nil)
        }
    }
--- request
GET /t
--- response_body
true true

=== TEST 12: print with several arguments
--- config
    location = /t {
        content_by_lua_block {
            print("a", 1, nil, true)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- error_log
[lua] content_by_lua(nginx.conf:

=== TEST 13: print with a table argument is refused
--- config
    location = /t { content_by_lua_block { print({}) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'print' (expected table to have __tostring metamethod)

=== TEST 14: a Lua error inside pcall does not abort the request
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(error, "caught")
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false caught
--- no_error_log
[error]

=== TEST 15: ngx.sleep inside pcall
--- config
    location = /t {
        content_by_lua_block {
            local ok = pcall(ngx.sleep, 0.01)
            ngx.say("pcall sleep ", ok)
        }
    }
--- request
GET /t
--- response_body
pcall sleep true

=== TEST 16: string.buffer and bit from LuaJIT
--- config
    location = /t {
        content_by_lua_block {
            local buf = require("string.buffer").new()
            buf:put("x"):put(1)
            ngx.say(buf:tostring(), " ", bit.bor(1, 4), " ", bit.tohex(255))
        }
    }
--- request
GET /t
--- response_body
x1 5 000000ff

=== TEST 17: the ffi can call libc
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ffi.cdef[[ int getpid(void); ]]
            ngx.say(ffi.C.getpid() == ngx.worker.pid())
        }
    }
--- request
GET /t
--- response_body
true

=== TEST 18: content_by_lua_file path relative to the prefix
--- config
    location = /t { content_by_lua_file html/sub/dir/h.lua; }
--- user_files
>>> sub/dir/h.lua
ngx.say("nested file")
--- request
GET /t
--- response_body
nested file

=== TEST 19: init_by_lua_file syntax error stops the start
--- http_config
    init_by_lua_file html/bad_init.lua;
--- config
    location = /t { return 200; }
--- user_files
>>> bad_init.lua
local x = = 1
--- must_die
--- error_log eval
qr|init_by_lua_file error: .*/html/bad_init\.lua:1: unexpected symbol near '='|

=== TEST 20: lua_package_cpath is set
--- http_config
    lua_package_cpath "/opt/lib/?.so;;";
--- config
    location = /t {
        content_by_lua_block { ngx.say(package.cpath:sub(1, 14)) }
    }
--- request
GET /t
--- response_body
/opt/lib/?.so;

=== TEST 21: output into nothing says why: "header only" for HEAD, "seen eof" after ngx.eof
--- config
    location = /head {
        content_by_lua_block {
            local ok, err = ngx.say("x")
            local ok2, err2 = ngx.flush()
            ngx.log(ngx.WARN, "say: ", ok, " ", err, "; flush: ", ok2, " ", err2)
        }
    }
--- request
HEAD /head
--- error_log
say: nil header only; flush: nil header only

=== TEST 22: ... and after ngx.eof
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("before")
            ngx.eof()
            local ok, err = ngx.print("after")
            local ok2, err2 = ngx.flush()
            local ok3, err3 = ngx.say(1, 2, 3)
            ngx.log(ngx.WARN, "print: ", ok, " ", err, "; flush: ", ok2, " ", err2, "; say: ", ok3, " ", err3)
        }
    }
--- request
GET /t
--- response_body
before
--- error_log
print: nil seen eof; flush: nil seen eof; say: nil seen eof

=== TEST 23: a Lua file may start with a #! line; line numbers hold
--- config
    location = /t { content_by_lua_file html/script.lua; }
--- user_files
>>> script.lua
#!/usr/bin/env luajit
ngx.say("line ", debug.getinfo(1).currentline)
--- request
GET /t
--- response_body
line 2

=== TEST 24: ngx.say / ngx.print: nested array tables, the values OpenResty writes, its errors for others
--- config
    location /t {
        content_by_lua_block {
            ngx.say({10, {0, "5"}, 15}, 32)
            ngx.print({10, {0, 5}, 15}, 32, "\n")
            ngx.say({})
            local ok, err = pcall(ngx.say, {1, nil, 3})
            ngx.say(err)
            ok, err = pcall(ngx.say, {a = 1})
            ngx.say(err)
            ok, err = pcall(ngx.say, print)
            ngx.say(err)
            ngx.say(nil, true, false, ngx.null, 3.5, 1e100, -0.0)
            ngx.say({true, false, ngx.null})
        }
    }
--- request
GET /t
--- response_body
10051532
10051532

bad argument #1 to 'say' (non-array table found)
bad argument #1 to 'say' (non-array table found)
bad argument #1 to 'say' (string, number, boolean, nil, ngx.null, or array table expected, got function)
niltruefalsenull3.51e+100-0
truefalsenull

=== TEST 25: HEAD over HTTP/1.0: no Content-Length is measured (nothing to measure)
--- config
    location /lua { content_by_lua_block { ngx.print("Hello, Lua!\n") } }
--- request
HEAD /lua HTTP/1.0
--- response_headers
!Content-Length
--- response_body
