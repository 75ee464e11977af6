# lua_code_cache, lua_need_request_body, *_no_postpone, header name and type switches,
# exit_worker_by_lua.

__DATA__

=== TEST 1: lua_code_cache off re-reads the file for each request
--- config
    lua_code_cache off;
    location = /t {
        content_by_lua_file html/t.lua;
    }
--- user_files
>>> t.lua
ngx.say("v1")
local f = io.open(ngx.config.prefix() .. "html/t.lua", "w")
f:write('ngx.say("v2")')
f:close()
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body
v1
v2
--- error_log
lua_code_cache is off; this will hurt performance

=== TEST 2: with the code cache on, the file is read once
--- config
    location = /t {
        content_by_lua_file html/t.lua;
    }
--- user_files
>>> t.lua
ngx.say("v1")
local f = io.open(ngx.config.prefix() .. "html/t.lua", "w")
f:write('ngx.say("v2")')
f:close()
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body
v1
v1

=== TEST 3: lua_need_request_body reads the body before the handler
--- config
    location = /t {
        lua_need_request_body on;
        content_by_lua_block { ngx.say(ngx.req.get_body_data()) }
    }
--- request
POST /t
already read
--- response_body
already read

=== TEST 4: rewrite_by_lua_no_postpone runs Lua before set
--- http_config
    rewrite_by_lua_no_postpone on;
--- config
    location = /t {
        set $a "set";
        rewrite_by_lua_block { ngx.ctx.seen = tostring(ngx.var.a) }
        content_by_lua_block { ngx.say(ngx.ctx.seen) }
    }
--- request
GET /t
--- response_body
nil

=== TEST 5: by default rewrite_by_lua runs after set
--- config
    location = /t {
        set $a "set";
        rewrite_by_lua_block { ngx.ctx.seen = tostring(ngx.var.a) }
        content_by_lua_block { ngx.say(ngx.ctx.seen) }
    }
--- request
GET /t
--- response_body
set

=== TEST 6: lua_transform_underscores_in_response_headers off
--- config
    location = /t {
        lua_transform_underscores_in_response_headers off;
        content_by_lua_block {
            ngx.header.X_Foo = "kept"
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
X_Foo: kept
!X-Foo

=== TEST 7: lua_use_default_type off
--- config
    location = /t {
        lua_use_default_type off;
        content_by_lua_block { ngx.say("untyped") }
    }
--- request
GET /t
--- response_headers
!Content-Type
--- response_body
untyped

=== TEST 8: exit_worker_by_lua runs when the worker stops
--- http_config
    exit_worker_by_lua_block { ngx.log(ngx.WARN, "worker exiting, phase ", ngx.get_phase()) }
--- config
    location = /t { content_by_lua_block { ngx.say("ok") } }
--- request
GET /t
--- response_body
ok
--- error_log
worker exiting, phase exit_worker

=== TEST 9: flags take on or off only
--- config
    lua_code_cache maybe;
--- must_die
--- error_log
invalid value "maybe" in "lua_code_cache" directive, it must be "on" or "off"

=== TEST 10: HTTP/1.0 output is buffered to send a Content-Length
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("one")
            ngx.say("two")
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- response_headers
Content-Length: 8
--- response_body
one
two

=== TEST 11: lua_http10_buffering off ends the body with the connection
--- config
    location = /t {
        lua_http10_buffering off;
        content_by_lua_block { ngx.say("one") }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- response_headers
!Content-Length
Connection: close
--- response_body
one

=== TEST 12: an error page replaces held HTTP/1.0 output
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("partial")
            error("oops")
        }
    }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- error_code: 500
--- response_body_like: 500 Internal Server Error

=== TEST 13: lua_code_cache off reads edited modules again
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    lua_code_cache off;
    location = /t {
        content_by_lua_block {
            local m = require "editable"
            ngx.say(m.version)
            local f = io.open(ngx.config.prefix() .. "html/editable.lua", "w")
            f:write('return { version = "v2" }')
            f:close()
        }
    }
--- user_files
>>> editable.lua
return { version = "v1" }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body
v1
v2

=== TEST 14: lua_code_cache off gives each request globals of its own
--- config
    lua_code_cache off;
    location = /t {
        content_by_lua_block {
            request_counter = (request_counter or 0) + 1
            ngx.say(request_counter, " ", type(ngx.say))
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1 function\n", "1 function\n"]

=== TEST 14b: lua_code_cache off: a module's globals belong to the request that loaded it
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    lua_code_cache off;
    location = /t {
        content_by_lua_block {
            local m = require "counting"
            ngx.say(m.loads, " ", module_loads)
        }
    }
--- user_files
>>> counting.lua
module_loads = (module_loads or 0) + 1
return { loads = module_loads }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1 1\n", "1 1\n"]

=== TEST 14c: lua_code_cache off reads a set_by_lua_file again
--- config
    location = /t {
        set_by_lua_file $v html/setv.lua;
        lua_code_cache off;
        content_by_lua_block {
            ngx.say(ngx.var.v)
            local f = io.open(ngx.config.prefix() .. "html/setv.lua", "w")
            f:write('return "v2"')
            f:close()
        }
    }
--- user_files
>>> setv.lua
return "v1"
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body
v1
v2

=== TEST 15: with the code cache on, globals persist across requests
--- config
    location = /t {
        content_by_lua_block {
            request_counter = (request_counter or 0) + 1
            ngx.say(request_counter)
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n"]

=== TEST 16: lua_code_cache off: a request's phases share its globals, the next request starts clean
--- config
    lua_code_cache off;
    location = /t {
        rewrite_by_lua_block { seen_before = phase_global; phase_global = "from rewrite" }
        content_by_lua_block { ngx.say(tostring(seen_before), " ", phase_global) }
        log_by_lua_block { ngx.log(ngx.WARN, "log sees ", phase_global) }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["nil from rewrite\n", "nil from rewrite\n"]
--- error_log
log sees from rewrite
