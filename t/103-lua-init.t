# init_by_lua, init_worker_by_lua, ngx.worker, ngx.config.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: init_by_lua builds data every request sees
--- http_config
    init_by_lua_block {
        shared_greeting = "built in init"
        package.loaded.mydata = { n = 42 }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(shared_greeting, " ", require("mydata").n)
        }
    }
--- request
GET /t
--- response_body
built in init 42

=== TEST 2: ngx.get_phase in init and init_worker
--- http_config
    init_by_lua_block { init_phase = ngx.get_phase() }
    init_worker_by_lua_block { worker_phase = ngx.get_phase() }
--- config
    location = /t {
        content_by_lua_block { ngx.say(init_phase, " ", worker_phase) }
    }
--- request
GET /t
--- response_body
init init_worker

=== TEST 3: an error in init_by_lua stops the start
--- http_config
    init_by_lua_block { error("init failed here") }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
init_by_lua error: init_by_lua(nginx.conf:

=== TEST 4: an error in init_worker_by_lua is logged, the worker serves
--- http_config
    init_worker_by_lua_block { error("worker init failed") }
--- config
    location = /t { content_by_lua_block { ngx.say("serving") } }
--- request
GET /t
--- response_body
serving
--- error_log
init_worker_by_lua error: init_worker_by_lua(nginx.conf:

=== TEST 5: ngx.sleep in init_by_lua and init_worker_by_lua sleeps blocking, as OpenResty
--- http_config
    init_by_lua_block {
        local start = ngx.now()
        ngx.sleep(0.1)
        ngx.update_time()
        package.loaded.gap = ngx.now() - start
    }
    init_worker_by_lua_block {
        local start = ngx.now()
        ngx.sleep(0.1)
        ngx.update_time()
        package.loaded.gap2 = ngx.now() - start
    }
--- config
    location /t {
        content_by_lua_block {
            ngx.say(package.loaded.gap >= 0.099, " ", package.loaded.gap2 >= 0.099)
        }
    }
--- request
GET /t
--- response_body
true true
--- no_error_log
[error]

=== TEST 6: init_by_lua_file
--- http_config
    init_by_lua_file html/init.lua;
--- config
    location = /t { content_by_lua_block { ngx.say(from_file) } }
--- user_files
>>> init.lua
from_file = "init file ran"
--- request
GET /t
--- response_body
init file ran

=== TEST 7: ngx.worker in single-process mode
--- http_config
    init_by_lua_block { master_id = ngx.worker.id() }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(tostring(master_id), " ", ngx.worker.id(), " ", ngx.worker.count(), " ", ngx.worker.pid() > 0, " ", ngx.worker.exiting())
        }
    }
--- request
GET /t
--- response_body
nil 0 1 true false

=== TEST 8: ngx.config
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.config.subsystem, " ", ngx.config.debug, " ", ngx.config.nginx_version >= 1000000, " ", ngx.config.ngx_lua_version > 0)
            ngx.say(ngx.config.prefix():sub(-1), " ", type(ngx.config.nginx_configure()))
        }
    }
--- request
GET /t
--- response_body
http false true true
/ string

=== TEST 9: init_by_lua twice is duplicate
--- http_config
    init_by_lua_block { a = 1 }
    init_by_lua_block { a = 2 }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
"init_by_lua_block" directive is duplicate

=== TEST 10: init_by_lua is http-level only
--- config
    init_by_lua_block { a = 1 }
--- must_die
--- error_log
"init_by_lua_block" directive is not allowed here

=== TEST 11: workers see the variables env names, and TZ, not the rest
--- main_config
    env OXR_SET=from-config;
    env PATH;
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(os.getenv("OXR_SET"), " ", os.getenv("PATH") ~= nil, " ", tostring(os.getenv("HOME")))
        }
    }
--- request
GET /t
--- response_body
from-config true nil
