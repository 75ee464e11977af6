# ngx.semaphore: lua-resty-core's semaphores across light threads, timers and requests.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: wait takes a resource at once, or waits for a post; count is resources less waiters
--- config
    location = /t {
        content_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new(1)
            ngx.say(sema:wait(0), " ", sema:count())
            local t = ngx.thread.spawn(function()
                local ok, err = sema:wait(1)
                ngx.say("thread got it: ", ok, " ", err)
            end)
            ngx.say("count with a waiter: ", sema:count())
            ngx.say(sema:post())
            ngx.thread.wait(t)
            ngx.say("count after: ", sema:count())
        }
    }
--- request
GET /t
--- response_body
true 0
count with a waiter: -1
true
thread got it: true nil
count after: 0
--- no_error_log
[error]

=== TEST 2: timeouts
--- config
    location = /t {
        content_by_lua_block {
            local sema = require("ngx.semaphore").new()
            ngx.say(sema:wait(0))
            local t0 = ngx.now()
            ngx.say(sema:wait(0.05))
            ngx.update_time()
            ngx.say(ngx.now() - t0 >= 0.04, " ", sema:count())
        }
    }
--- request
GET /t
--- response_body
niltimeout
falsetimeout
true 0
--- no_error_log
[error]

=== TEST 3: waiters are served in arrival order; post(n) wakes n of them
--- config
    location = /t {
        content_by_lua_block {
            local sema = require("ngx.semaphore").new(0)
            local order = {}
            local threads = {}
            for i = 1, 4 do
                threads[i] = ngx.thread.spawn(function()
                    local ok = sema:wait(1)
                    order[#order + 1] = i
                end)
            end
            sema:post(3)
            ngx.sleep(0.01)
            ngx.say(table.concat(order, " "), "; count ", sema:count())
            sema:post(1)
            for i = 1, 4 do ngx.thread.wait(threads[i]) end
            ngx.say(table.concat(order, " "))
        }
    }
--- request
GET /t
--- response_body
1 2 3; count -1
1 2 3 4
--- no_error_log
[error]

=== TEST 4: a timer posts to a request that waits
--- config
    location = /t {
        content_by_lua_block {
            local sema = require("ngx.semaphore").new()
            ngx.timer.at(0.02, function() sema:post() end)
            ngx.say(sema:wait(2))
        }
    }
--- request
GET /t
--- response_body
truenil
--- no_error_log
[error]

=== TEST 5: a killed waiter leaves the queue; a resource handed to it goes to the next
--- config
    location = /t {
        content_by_lua_block {
            local sema = require("ngx.semaphore").new()
            local t = ngx.thread.spawn(function() sema:wait(1) ngx.say("never") end)
            ngx.say(sema:count())
            ngx.thread.kill(t)
            ngx.say(sema:count())
            local t2 = ngx.thread.spawn(function() return sema:wait(1) end)
            local t3 = ngx.thread.spawn(function() return sema:wait(1) end)
            sema:post(1)
            ngx.thread.kill(t2)
            ngx.say(ngx.thread.wait(t3))
        }
    }
--- request
GET /t
--- response_body
-1
0
truetruenil
--- no_error_log
[error]

=== TEST 6: errors
--- config
    location = /t {
        content_by_lua_block {
            local semaphore = require "ngx.semaphore"
            local sema = semaphore.new(0)
            ngx.say(pcall(semaphore.new, -1))
            ngx.say(pcall(sema.post, sema, 0))
            ngx.say(pcall(sema.wait, sema, -1))
            ngx.say(pcall(sema.count, {}))
        }
        header_filter_by_lua_block {
            local sema = require("ngx.semaphore").new(0)
            local ok, res, err = pcall(sema.wait, sema, 1)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
--- response_body_like chomp
^false.*no negative number
false.*positive number required
false.*no negative number
false.*not a semaphore instance
$
--- no_error_log
[error]
