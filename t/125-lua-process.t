# lua-resty-core's ngx.process module, in single-process mode (as Test::Nginx runs with
# master_process off); the master and the privileged agent are in tests/process.rs.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: type() is "single" without a master, in every phase
--- http_config
    init_by_lua_block {
        init_type = require("ngx.process").type()
    }
    init_worker_by_lua_block {
        worker_type = require("ngx.process").type()
    }
--- config
    location = /t {
        content_by_lua_block {
            local process = require "ngx.process"
            ngx.say(init_type, " ", worker_type, " ", process.type())
        }
    }
--- request
GET /t
--- response_body
single single single

=== TEST 2: get_master_pid() is the process's own pid without a master
--- config
    location = /t {
        content_by_lua_block {
            local process = require "ngx.process"
            local pid = process.get_master_pid()
            ngx.say(type(pid), " ", pid == ngx.worker.pid())
        }
    }
--- request
GET /t
--- response_body
number true

=== TEST 3: enable_privileged_agent() outside init_by_lua
--- config
    location = /t {
        content_by_lua_block {
            local process = require "ngx.process"
            ngx.say(process.enable_privileged_agent())
        }
    }
--- request
GET /t
--- response_body
nilAPI disabled in the current context

=== TEST 4: enable_privileged_agent() in init_by_lua: true; connections must be a number of 0 or more
--- http_config
    init_by_lua_block {
        local process = require "ngx.process"
        local out = {}
        for _, c in ipairs { "none", 10, 0, -1, "10", 1.5 } do
            local ok, err
            if c == "none" then
                ok, err = process.enable_privileged_agent()
            else
                ok, err = process.enable_privileged_agent(c)
            end
            out[#out + 1] = tostring(c) .. ": " .. tostring(ok) .. " " .. tostring(err)
        end
        results = table.concat(out, "\n")
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(results)
        }
    }
--- request
GET /t
--- response_body
none: true nil
10: true nil
0: true nil
-1: nil bad 'connections' argument: number expected and greater than 0
10: nil bad 'connections' argument: number expected and greater than 0
1.5: true nil

=== TEST 5: enable_privileged_agent() in init_worker_by_lua is refused
--- http_config
    init_worker_by_lua_block {
        local ok, err = require("ngx.process").enable_privileged_agent()
        ngx.log(ngx.WARN, "agent: ", ok, " ", err)
    }
--- config
    location = /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log
agent: nil API disabled in the current context

=== TEST 6: the module is the same table on every require, and ngx has no "process" field
--- config
    location = /t {
        content_by_lua_block {
            local a = require "ngx.process"
            local b = require "ngx.process"
            ngx.say(a == b, " ", ngx.process, " ", type(a.signal_graceful_exit))
        }
    }
--- request
GET /t
--- response_body
true nil function

=== TEST 7: signal_graceful_exit() lets the current request finish, then the process stops
--- config
    location = /t {
        content_by_lua_block {
            require("ngx.process").signal_graceful_exit()
            ngx.sleep(0.05)
            ngx.say("still answered, exiting: ", ngx.worker.exiting())
        }
    }
--- request
GET /t
--- response_body
still answered, exiting: true
--- error_log
gracefully shutting down
