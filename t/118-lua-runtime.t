# The Lua runtime around the API: modules, coroutines, ngx.null, ngx.config, ngx.worker.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: module state persists across requests in a worker
--- user_files
>>> counter.lua
local _M = { n = 0 }
function _M.hit() _M.n = _M.n + 1 return _M.n end
return _M
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t { content_by_lua_block { ngx.say(require("counter").hit()) } }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n", "3\n"]

=== TEST 2: ngx.null is a NULL light userdata
--- config
    location = /t { content_by_lua_block {
        ngx.say(type(ngx.null), " ", ngx.null == ngx.null, " ", tostring(ngx.null))
    } }
--- request
GET /t
--- response_body
userdata true userdata: NULL

=== TEST 3: ngx.config fields
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.config.subsystem, " ", ngx.config.debug, " ", type(ngx.config.nginx_version),
                " ", type(ngx.config.ngx_lua_version), " ", ngx.config.prefix():sub(-1))
        ngx.say(type(ngx.config.nginx_configure()))
    } }
--- request
GET /t
--- response_body
http false number number /
string

=== TEST 4: ngx.worker.pid is $pid, count and exiting
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.worker.pid() == tonumber(ngx.var.pid), " ", ngx.worker.count(), " ", ngx.worker.exiting())
    } }
--- request
GET /t
--- response_body
true 1 false

=== TEST 5: ngx.sleep(0) yields and comes back
--- config
    location = /t { content_by_lua_block {
        ngx.sleep(0)
        ngx.say("back")
    } }
--- request
GET /t
--- response_body
back

=== TEST 6: ngx.sleep in rewrite and access phases
--- config
    location = /t {
        rewrite_by_lua_block { ngx.sleep(0.01) ngx.ctx.r = true }
        access_by_lua_block { ngx.sleep(0.01) ngx.ctx.a = true }
        content_by_lua_block { ngx.say(ngx.ctx.r, " ", ngx.ctx.a) }
    }
--- request
GET /t
--- response_body
true true

=== TEST 7: two levels of user coroutines, the inner one sleeping
--- config
    location = /t { content_by_lua_block {
        local inner = coroutine.create(function()
            ngx.sleep(0.001)
            coroutine.yield("inner")
            return "inner done"
        end)
        local outer = coroutine.create(function()
            local _, a = coroutine.resume(inner)
            ngx.sleep(0.001)
            local _, b = coroutine.resume(inner)
            return a .. "," .. b
        end)
        ngx.say(select(2, coroutine.resume(outer)))
    } }
--- request
GET /t
--- response_body
inner,inner done

=== TEST 8: resuming a dead coroutine
--- config
    location = /t { content_by_lua_block {
        local co = coroutine.create(function() end)
        coroutine.resume(co)
        ngx.say(coroutine.resume(co))
    } }
--- request
GET /t
--- response_body
falsecannot resume dead coroutine

=== TEST 9: coroutine.running and isyieldable in the entry thread
--- config
    location = /t { content_by_lua_block {
        local co = coroutine.running()
        ngx.say(type(co), " ", coroutine.status(co), " ", coroutine.isyieldable())
    } }
--- request
GET /t
--- response_body
thread running true

=== TEST 10: ngx.sleep inside pcall inside a user coroutine
--- config
    location = /t { content_by_lua_block {
        local co = coroutine.wrap(function()
            local ok = pcall(function()
                ngx.sleep(0.001)
                error("after sleep")
            end)
            return ok
        end)
        ngx.say(co())
    } }
--- request
GET /t
--- response_body
false

=== TEST 11: ngx.ctx and ngx.var inside a user coroutine
--- config
    location = /t { content_by_lua_block {
        ngx.ctx.v = "ctx"
        local co = coroutine.wrap(function()
            ngx.sleep(0.001)
            return ngx.ctx.v .. " " .. ngx.var.uri
        end)
        ngx.say(co())
    } }
--- request
GET /t
--- response_body
ctx /t

=== TEST 12: string.buffer and bit operations
--- config
    location = /t { content_by_lua_block {
        local buf = require("string.buffer").new()
        buf:put("a", 1, "b")
        ngx.say(buf:tostring(), " ", bit.band(0xff, 0x0f), " ", bit.lshift(1, 4))
    } }
--- request
GET /t
--- response_body
a1b 15 16

=== TEST 13: jit is on and reports LuaJIT 2.1
--- config
    location = /t { content_by_lua_block {
        ngx.say(jit.status(), " ", jit.version:match("^LuaJIT 2%.1") ~= nil)
    } }
--- request
GET /t
--- response_body
true true

=== TEST 14: ffi can call into libc
--- config
    location = /t { content_by_lua_block {
        local ffi = require "ffi"
        ffi.cdef[[ size_t strlen(const char *s); ]]
        ngx.say(tonumber(ffi.C.strlen("hello")))
    } }
--- request
GET /t
--- response_body
5

=== TEST 15: a Lua error answers 500 and, as nginx, ends the keepalive connection
--- config
    location = /bad { content_by_lua_block { local t = nil; t.x = 1 } }
--- request
GET /bad
--- error_code: 500
--- response_headers
Connection: close
--- error_log
attempt to index local 't' (a nil value)

=== TEST 16: require of a syntax-broken module reports the file
--- user_files
>>> broken.lua
return {
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(require, "broken")
        ngx.say(ok, " ", err:match("broken.lua") ~= nil)
    } }
--- request
GET /t
--- response_body
false true
