# lua_code_cache, lua_need_request_body, *_no_postpone, header name and type switches,
# exit_worker_by_lua.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

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
--- response_body eval
["v1\n", "v2\n"]
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
--- response_body eval
["v1\n", "v1\n"]

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

=== TEST 4: rewrite_by_lua_no_postpone runs Lua before set (the variable is not set yet: empty, with nginx's warning)
--- http_config
    rewrite_by_lua_no_postpone on;
--- config
    location = /t {
        set $a "set";
        rewrite_by_lua_block { ngx.ctx.seen = "[" .. tostring(ngx.var.a) .. "]" }
        content_by_lua_block { ngx.say(ngx.ctx.seen) }
    }
--- request
GET /t
--- response_body
[]
--- error_log
using uninitialized "a" variable

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
--- raw_response_headers_like: \r\nX_Foo: kept\r\n

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
--- no_error_log
worker exiting
--- shutdown_error_log
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
--- response_body eval
["v1\n", "v2\n"]

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
--- response_body eval
["v1\n", "v2\n"]

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

=== TEST 19: set_by_lua: arguments, variables read and written, $ kept in code, variable file paths
--- config
    location /t {
        set $base 40;
        set $side "";
        set $path "html/add.lua";
        set_by_lua $sum "return ngx.arg[1] + ngx.arg[2]" $arg_a $arg_b;
        set_by_lua $next "ngx.var.side = 'written'; return tonumber(ngx.var.base) + 2";
        set_by_lua $dollar 'return "$not_a_var"';
        set_by_lua_file $from_file $path $arg_a $arg_b;
        content_by_lua_block {
            ngx.say(ngx.var.sum, " ", ngx.var.next, " ", ngx.var.side, " ", ngx.var.dollar, " ", ngx.var.from_file)
        }
    }
--- user_files
>>> add.lua
return ngx.arg[1] * ngx.arg[2]
--- request
GET /t?a=6&b=7
--- response_body
13 42 written $not_a_var 42

=== TEST 20: set_by_lua: error(nil) is "unknown reason"; ngx.exit is refused there
--- config
    location /t {
        set_by_lua $refused 'local ok, err = pcall(ngx.exit, 0) return err';
        set_by_lua $res 'error(nil)';
        content_by_lua_block { ngx.say(ngx.var.refused) }
    }
--- request
GET /t
--- error_code: 500
--- error_log
failed to run set_by_lua*: unknown reason

=== TEST 21: a global written while serving a request is shared and warned about; init_by_lua's are not
--- http_config
    init_by_lua_block { from_init = "ok" }
--- config
    location /t {
        content_by_lua_block {
            if not counter then counter = 0 end
            counter = counter + 1
            ngx.say(from_init, " ", counter)
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["ok 1\n", "ok 2\n"]
--- error_log eval
[qr/\[warn\] .*\[lua\] _G write guard:\d+: __newindex\(\): writing a global Lua variable \('counter'\) which may lead to race conditions between concurrent requests, so prefer the use of 'local' variables$/,
qr/^\tcontent_by_lua\(nginx.conf:\d+\):2: in function/]
--- no_error_log
('from_init')

=== TEST 22: writing $arg_x is "not found for writing", writing $uri "not changeable"
--- config
    location /t {
        content_by_lua_block {
            local _, e1 = pcall(function() ngx.var.arg_foo = "x" end)
            local _, e2 = pcall(function() ngx.var.uri = "/x" end)
            ngx.say(e1:match("variable.*$"))
            ngx.say(e2:match("variable.*$"))
        }
    }
--- request
GET /t?foo=1
--- response_body
variable "arg_foo" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use "set $arg_foo '';" in the config file to define it
variable "uri" not changeable
