# ngx.timer: at, every, counts and limits, as lua-nginx-module runs timers.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: a timer runs after the request, with its arguments and premature false
--- config
    location = /t {
        content_by_lua_block {
            local function f(premature, a, b, c)
                ngx.log(ngx.WARN, "timer ran: ", tostring(premature), " ", a, " ", tostring(b), " ", c)
            end
            ngx.say(ngx.timer.at(0.05, f, "x", nil, 3))
            ngx.say(ngx.timer.pending_count(), " ", ngx.timer.running_count())
        }
    }
--- request
GET /t
--- response_body
1
1 0
--- wait: 0.2
--- error_log eval
qr/\[warn\] .*timer ran: false x nil 3, context: ngx\.timer, client: 127\.0\.0\.1, server: [\d.]+:\d+$/
--- no_error_log
[error]

=== TEST 2: ngx.timer.every fires until the worker stops; a timer sees its own counts
--- http_config
    lua_shared_dict d 1m;
--- config
    location = /t {
        content_by_lua_block {
            local d = ngx.shared.d
            ngx.timer.every(0.02, function(premature)
                d:incr("n", 1, 0)
                d:set("counts", ngx.timer.pending_count() .. " " .. ngx.timer.running_count())
            end)
            ngx.sleep(0.15)
            local n = d:get("n")
            ngx.say(n >= 4 and n <= 8, " ", d:get("counts"))
        }
    }
--- request
GET /t
--- response_body
true 1 1
--- no_error_log
[error]

=== TEST 3: light threads, sleeps and an error inside a timer
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local t = ngx.thread.spawn(function(x) ngx.sleep(0.01) return x * 2 end, 21)
                local ok, v = ngx.thread.wait(t)
                ngx.log(ngx.WARN, "thread in timer: ", v, " phase ", ngx.get_phase())
                local ok, err = pcall(ngx.say, "no")
                ngx.log(ngx.WARN, "say in timer: ", err)
                error("timer fails")
            end)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.1
--- error_log eval
[
qr/thread in timer: 42 phase timer/,
qr/say in timer: API disabled in the context of ngx.timer/,
qr/lua entry thread aborted: runtime error: content_by_lua\(nginx.conf:\d+\):8: timer fails$/,
qr/in function <content_by_lua\(nginx.conf:\d+\):2>, context: ngx\.timer, client: 127\.0\.0\.1, server: [\d.]+:\d+$/,
]

=== TEST 4: lua_max_pending_timers
--- http_config
    lua_max_pending_timers 2;
--- config
    location = /t {
        content_by_lua_block {
            local f = function() end
            ngx.say(ngx.timer.at(1, f))
            ngx.say(ngx.timer.at(1, f))
            ngx.say(ngx.timer.at(1, f))
        }
    }
--- request
GET /t
--- response_body
1
1
niltoo many pending timers
--- no_error_log
[error]

=== TEST 5: lua_max_running_timers
--- http_config
    lua_max_running_timers 1;
--- config
    location = /t {
        content_by_lua_block {
            local f = function() ngx.sleep(0.05) end
            ngx.timer.at(0, f)
            ngx.timer.at(0, f)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- wait: 0.1
--- error_log eval
qr/\[alert\] .*lua failed to run timer with function defined at =content_by_lua\(nginx.conf:\d+\):2: 1 lua_max_running_timers are not enough$/

=== TEST 6: bad arguments
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(pcall(ngx.timer.at, 1))
            ngx.say(pcall(ngx.timer.every, 0, function() end))
            ngx.say(pcall(ngx.timer.at, "soon", function() end))
            ngx.say(pcall(ngx.timer.at, 1, "f"))
        }
    }
--- request
GET /t
--- response_body
falseexpecting at least 2 arguments but got 1
falsedelay cannot be zero
falsebad argument #1 to '?' (number expected, got string)
falsebad argument #2 to '?' (Lua function expected)
--- no_error_log
[error]

=== TEST 7: timers made in init_worker_by_lua
--- http_config
    init_worker_by_lua_block {
        ngx.timer.at(0, function(premature)
            ngx.log(ngx.WARN, "from init_worker: ", ngx.worker.id() ~= nil)
        end)
    }
--- config
    location = /t {
        content_by_lua_block { ngx.sleep(0.05) ngx.say("ok") }
    }
--- request
GET /t
--- response_body
ok
--- error_log
from init_worker: true
--- no_error_log
[error]

=== TEST 8: beyond OpenResty: init_worker_by_lua may wait (a cosocket to redis, a semaphore, light threads); the worker serves once it is done
--- http_config
    init_worker_by_lua_block {
        local sema = require("ngx.semaphore").new()
        local t = ngx.thread.spawn(function()
            ngx.sleep(0.01)
            sema:post()
            return "thread"
        end)
        local ok = sema:wait(1)
        local _, from = ngx.thread.wait(t)
        local sock = ngx.socket.tcp()
        local cok, cerr = sock:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT)
        if cok then
            sock:send("PING\r\n")
            package.loaded.init_worker_got = from .. " " .. tostring(ok) .. " " .. sock:receive()
            sock:close()
        else
            package.loaded.init_worker_got = "connect failed: " .. cerr
        end
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say(package.loaded.init_worker_got) }
    }
--- request
GET /t
--- response_body
thread true +PONG
--- no_error_log
[error]
