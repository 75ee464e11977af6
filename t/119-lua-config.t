# Lua directives in configuration: levels, inheritance, paths, set_by_lua details.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: init_by_lua requires a module that every request sees loaded
--- user_files
>>> conf_mod.lua
return { loaded_at = "init" }
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
    init_by_lua_block { require "conf_mod" }
--- config
    location = /t { content_by_lua_block { ngx.say(package.loaded.conf_mod.loaded_at) } }
--- request
GET /t
--- response_body
init

=== TEST 2: init_worker_by_lua sees its phase and the worker pid
--- http_config
    init_worker_by_lua_block { worker_seen = ngx.get_phase() .. " " .. tostring(ngx.worker.pid() > 0) }
--- config
    location = /t { content_by_lua_block { ngx.say(worker_seen) } }
--- request
GET /t
--- response_body
init_worker true

=== TEST 3: set_by_lua sees its arguments in ngx.arg (a proxy table, as OpenResty's)
--- config
    location = /t {
        set_by_lua $n 'return #ngx.arg .. ":" .. ngx.arg[1] .. "," .. ngx.arg[2] .. "," .. ngx.arg[3] .. tostring(ngx.arg[4])' a $arg_x c;
        return 200 "$n\n";
    }
--- request
GET /t?x=b
--- response_body
0:a,b,cnil

=== TEST 4: set_by_lua returning a number
--- config
    location = /t {
        set_by_lua_block $n { return 6 * 7 }
        return 200 "$n\n";
    }
--- request
GET /t
--- response_body
42

=== TEST 5: rewrite_by_lua at http level is inherited by locations
--- http_config
    rewrite_by_lua_block { ngx.req.set_header("X-From", "http") }
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.var.http_x_from) } }
--- request
GET /t
--- response_body
http

=== TEST 6: a location's access_by_lua replaces the server's
--- config
    access_by_lua_block { ngx.exit(403) }
    location = /open { access_by_lua_block { return } content_by_lua_block { ngx.say("open") } }
    location = /closed { content_by_lua_block { ngx.say("closed") } }
--- pipelined_requests eval
["GET /open", "GET /closed"]
--- error_code eval
[200, 403]

=== TEST 7: content_by_lua_file with a variable in the path
--- user_files
>>> a.lua
ngx.say("file a")
>>> b.lua
ngx.say("file b")
--- config
    location = /t { content_by_lua_file html/$arg_f.lua; }
--- pipelined_requests eval
["GET /t?f=a", "GET /t?f=b"]
--- response_body eval
["file a\n", "file b\n"]

=== TEST 8: package.path starts with lua_package_path
--- http_config
    lua_package_path "/opt/first/?.lua;;";
    lua_package_cpath "/opt/first/?.so;;";
--- config
    location = /t { content_by_lua_block {
        ngx.say(package.path:sub(1, 16), " ", package.cpath:sub(1, 15))
    } }
--- request
GET /t
--- response_body
/opt/first/?.lua /opt/first/?.so

=== TEST 9: lua_code_cache off warns at startup
--- http_config
    lua_code_cache off;
--- config
    location = /t { content_by_lua_block { ngx.say("ok") } }
--- request
GET /t
--- response_body
ok
--- error_log
lua_code_cache is off

=== TEST 10: a Lua handler in an if block
--- config
    location = /t {
        if ($arg_lua) {
            content_by_lua_block { ngx.say("from if") }
        }
        content_by_lua_block { ngx.say("outer") }
    }
--- pipelined_requests eval
["GET /t?lua=1", "GET /t"]
--- response_body eval
["from if\n", "outer\n"]

=== TEST 11: content_by_lua_file of a missing file is a 404 with the path, as OpenResty
--- config
    location = /t { content_by_lua_file html/nope.lua; }
--- request
GET /t
--- error_code: 404
--- error_log
nope.lua

=== TEST 12: set_by_lua with a bad variable name is a config error
--- config
    location = /t { set_by_lua_block bad { return 1 } }
--- must_die
--- error_log
invalid variable name "bad"

=== TEST 13: content_by_lua_block with an unbalanced brace is a config error
--- config
    location = /t { content_by_lua_block { ngx.say("x") }
--- must_die

=== TEST 14: lua_need_request_body with a big body spooled to a file
--- http_config
    client_body_buffer_size 1k;
--- config
    location = /t {
        lua_need_request_body on;
        content_by_lua_block {
            ngx.say(tostring(ngx.req.get_body_data()), " ", ngx.req.get_body_file() ~= nil)
        }
    }
--- request eval
"POST /t\n" . ("x" x 4096)
--- response_body
nil true

=== TEST 15: a variable file path naming a missing file is a 404
--- user_files
>>> here.lua
ngx.say("here")
--- config
    location = /t { content_by_lua_file html/$arg_f.lua; }
--- pipelined_requests eval
["GET /t?f=here", "GET /t?f=gone"]
--- error_code eval
[200, 404]
--- error_log
failed to load external Lua file

=== TEST 16: OpenResty's tuning directives are accepted: lua_load_resty_core, lua_sa_restart, lua_malloc_trim, lua_thread_cache_max_entries
--- http_config
    lua_load_resty_core on;
    lua_sa_restart on;
    lua_malloc_trim 1000;
    lua_thread_cache_max_entries 1024;
--- config
    location = /t { content_by_lua_block { ngx.say("ok") } }
--- request
GET /t
--- response_body
ok

=== TEST 17: lua_thread_cache_max_entries 0: no entry thread is kept, each request gets a new one
--- http_config
    lua_thread_cache_max_entries 0;
--- config
    location = /t { content_by_lua_block { ngx.say(tostring(coroutine.running()) ~= package.loaded.last) package.loaded.last = tostring(coroutine.running()) } }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["true\n", "true\n", "true\n"]

=== TEST 18: by default entry threads are reused
--- config
    location = /t { content_by_lua_block { ngx.say(tostring(coroutine.running()) == package.loaded.last) package.loaded.last = tostring(coroutine.running()) } }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["false\n", "true\n"]

=== TEST 19: lua_load_resty_core takes on or off
--- http_config
    lua_load_resty_core maybe;
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid value "maybe" in "lua_load_resty_core" directive, it must be "on" or "off"

=== TEST 20: lua_malloc_trim takes a number
--- http_config
    lua_malloc_trim often;
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid value "often"
