# log_by_lua may wait (beyond OpenResty, whose log phase cannot yield): ngx.sleep,
# cosockets, semaphores and light threads work there. The code runs after the response
# is complete, and its waits never delay the client: the connection goes on (or is
# closed) while the request's log phase finishes on its own.

use Test::Nginx::Socket 'no_plan';

check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: ngx.sleep in log_by_lua yields: a closing connection is closed at once
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            local start = ngx.now()
            ngx.sleep(1)
            ngx.update_time()
            ngx.log(ngx.WARN, "slept: ", ngx.now() - start >= 0.9, " status: ", ngx.status,
                    " uri: ", ngx.var.uri)
        }
    }
--- request
GET /t HTTP/1.0
--- timeout: 0.6
--- wait: 1.2
--- response_body
ok
--- error_log
slept: true status: 200 uri: /t
--- no_error_log
[error]

=== TEST 2: the next request of a keepalive connection is served while the last one's log waits
--- config
    location = /t {
        content_by_lua_block { ngx.say("n=", ngx.var.arg_n) }
        log_by_lua_block {
            ngx.sleep(0.5)
            ngx.log(ngx.WARN, "logged n=", ngx.var.arg_n, " at ", ngx.var.request_uri)
        }
    }
--- pipelined_requests eval
["GET /t?n=1", "GET /t?n=2", "GET /t?n=3"]
--- timeout: 0.4
--- wait: 0.8
--- response_body eval
["n=1\n", "n=2\n", "n=3\n"]
--- error_log
logged n=1 at /t?n=1
logged n=2 at /t?n=2
logged n=3 at /t?n=3

=== TEST 3: a TCP cosocket in log_by_lua ships the log line to a collector
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1)
            if not ok then
                ngx.log(ngx.ERR, "connect: ", err)
                return
            end
            local bytes, err = sock:send(ngx.var.request_method .. " " .. ngx.var.uri .. " " .. ngx.status .. "\n")
            ngx.log(ngx.WARN, "shipped: ", bytes, " ", err)
            sock:close()
        }
    }
--- request
GET /t
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /t 200\n"
--- tcp_query_len: 11
--- tcp_reply:
--- wait: 0.2
--- response_body
ok
--- error_log
shipped: 11 nil
--- no_error_log
[error]

=== TEST 4: light threads and a semaphore in log_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new()
            local t = ngx.thread.spawn(function()
                ngx.sleep(0.01)
                sema:post(1)
                return "child done"
            end)
            local ok, err = sema:wait(1)
            local _, res = ngx.thread.wait(t)
            ngx.log(ngx.WARN, "wait: ", ok, " ", err, " thread: ", res, " ctx: ", ngx.ctx.k)
        }
        rewrite_by_lua_block { ngx.ctx.k = "v" }
    }
--- request
GET /t
--- wait: 0.2
--- response_body
ok
--- error_log
wait: true nil thread: child done ctx: v
--- no_error_log
[error]

=== TEST 5: an error after a wait reads as log_by_lua's
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            ngx.sleep(0.01)
            error("boom")
        }
    }
--- request
GET /t
--- wait: 0.2
--- response_body
ok
--- error_log eval
qr/\[error\] .*failed to run log_by_lua\*: log_by_lua\(nginx\.conf:\d+\):3: boom/

=== TEST 6: output and ngx.exit stay refused in log_by_lua, after a wait too
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block {
            ngx.sleep(0.01)
            local ok, err = pcall(ngx.say, "late")
            ngx.log(ngx.WARN, "say: ", err)
            ok, err = pcall(ngx.exit, 200)
            ngx.log(ngx.WARN, "exit: ", err)
            ok, err = pcall(ngx.req.socket)
            ngx.log(ngx.WARN, "req.socket: ", err)
        }
    }
--- request
GET /t
--- wait: 0.2
--- response_body
ok
--- error_log
say: API disabled in the context of log_by_lua*
exit: API disabled in the context of log_by_lua*
req.socket: API disabled in the context of log_by_lua*

=== TEST 7: the access log line is written once the Lua log handler has waited
--- http_config
    log_format t "$request_uri $status";
--- config
    location = /t {
        access_log logs/t.log t;
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block { ngx.sleep(0.05) }
    }
    location = /read {
        content_by_lua_block {
            ngx.sleep(0.2)
            local f = io.open(ngx.config.prefix() .. "logs/t.log")
            ngx.print(f and f:read("*a") or "no log")
        }
    }
--- pipelined_requests eval
["GET /t?a=1", "GET /read"]
--- response_body eval
["ok\n", "/t?a=1 200\n"]
