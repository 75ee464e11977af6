# ngx.thread: light threads, as lua-nginx-module runs them.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: the child runs first, up to its first wait; the request ends with its last thread
--- config
    location = /t {
        content_by_lua_block {
            local function child(a, b)
                ngx.say("child starts ", a, " ", b)
                ngx.sleep(0.01)
                ngx.say("child ends")
            end
            local t = ngx.thread.spawn(child, "x", "y")
            ngx.say("parent goes on: ", type(t), " ", coroutine.status(t))
        }
    }
--- request
GET /t
--- response_body
child starts x y
parent goes on: thread running
child ends
--- no_error_log
[error]

=== TEST 2: wait returns the child's results; a child that ended first waits as a zombie
--- config
    location = /t {
        content_by_lua_block {
            local t1 = ngx.thread.spawn(function() return 1, "one", nil end)
            local t2 = ngx.thread.spawn(function() ngx.sleep(0.01) return "two" end)
            ngx.say(ngx.thread.wait(t1))
            ngx.say(select("#", ngx.thread.wait(t2)))
        }
    }
--- request
GET /t
--- response_body
true1onenil
2
--- no_error_log
[error]

=== TEST 3: wait on several returns the first to end
--- config
    location = /t {
        content_by_lua_block {
            local slow = ngx.thread.spawn(function() ngx.sleep(0.05) ngx.say("slow done") return "slow" end)
            local fast = ngx.thread.spawn(function() ngx.sleep(0.01) return "fast" end)
            ngx.say(ngx.thread.wait(slow, fast))
            ngx.say(ngx.thread.wait(slow))
        }
    }
--- request
GET /t
--- response_body
truefast
slow done
trueslow
--- no_error_log
[error]

=== TEST 4: kill drops a waiting thread; killing twice or a child that ended says so
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() ngx.sleep(0.05) ngx.say("never") end)
            ngx.say(ngx.thread.kill(t))
            ngx.sleep(0.1)
            local done = ngx.thread.spawn(function() return 1 end)
            ngx.say(ngx.thread.kill(done))
            ngx.say("end")
        }
    }
--- request
GET /t
--- response_body
1
nilalready terminated
end
--- no_error_log
[error]

=== TEST 5: an error in a light thread ends that thread only
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() ngx.sleep(0.01) error("boom") end)
            local ok, err = ngx.thread.wait(t)
            ngx.say(ok, " ", err)
            ngx.say("still here")
        }
    }
--- request
GET /t
--- response_body
false boom
still here
--- error_log eval
qr/lua user thread aborted: runtime error: content_by_lua\(nginx.conf:\d+\):2: boom/

=== TEST 6: ngx.exit in a light thread ends the request and its other threads
--- config
    location = /t {
        content_by_lua_block {
            ngx.thread.spawn(function() ngx.sleep(0.05) ngx.say("never") end)
            ngx.thread.spawn(function() ngx.sleep(0.01) ngx.say("exiting") ngx.exit(200) end)
            ngx.sleep(0.2)
            ngx.say("never either")
        }
    }
--- request
GET /t
--- response_body
exiting
--- no_error_log
[error]

=== TEST 7: only the parent waits on or kills a thread; bad arguments
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.thread.spawn(function() ngx.sleep(0.01) end)
            local other = ngx.thread.spawn(function()
                ngx.say(pcall(ngx.thread.wait, t))
                ngx.say(pcall(ngx.thread.kill, t))
            end)
            ngx.say(pcall(ngx.thread.wait, coroutine.create(function() end)))
            ngx.say(pcall(ngx.thread.wait, "t"))
            ngx.say(pcall(function() ngx.thread.wait("t") end))
            ngx.say(pcall(function() ngx.thread.spawn(nil) end))
        }
    }
--- request
GET /t
--- response_body_like chomp
^falseonly the parent coroutine can wait on the thread
truenilkiller not parent
falseattempt to wait on a coroutine that is not a user thread
falsebad argument #1 to '\?' \(lua thread expected\)
falsecontent_by_lua\(nginx.conf:\d+\):9: bad argument #1 to 'wait' \(lua thread expected\)
falsecontent_by_lua\(nginx.conf:\d+\):10: bad argument #1 to 'spawn' \(Lua function expected\)
$
--- no_error_log
[error]

=== TEST 8: light threads in rewrite and access; the phase ends with its last thread
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.thread.spawn(function() ngx.sleep(0.01) ngx.ctx.r = "rewrite thread" end)
        }
        access_by_lua_block {
            local t = ngx.thread.spawn(function() return "access thread" end)
            local _, v = ngx.thread.wait(t)
            ngx.ctx.a = v
        }
        content_by_lua_block {
            ngx.say(ngx.ctx.r, ", ", ngx.ctx.a)
        }
    }
--- request
GET /t
--- response_body
rewrite thread, access thread
--- no_error_log
[error]

=== TEST 9: no light threads where OpenResty has none
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        header_filter_by_lua_block {
            local ok, err = pcall(ngx.thread.spawn, function() end)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
--- response_body
ok
--- no_error_log
[error]

=== TEST 10: light threads inside a user coroutine, and user coroutines inside light threads
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.wrap(function()
                local t = ngx.thread.spawn(function() ngx.sleep(0.01) return "from a thread" end)
                coroutine.yield("yielded")
                return select(2, ngx.thread.wait(t))
            end)
            ngx.say(co())
            ngx.say(co())
            local t = ngx.thread.spawn(function()
                local gen = coroutine.wrap(function() for i = 1, 3 do ngx.sleep(0.001) coroutine.yield(i) end end)
                return gen() + gen() + gen()
            end)
            ngx.say(ngx.thread.wait(t))
        }
    }
--- request
GET /t
--- response_body
yielded
from a thread
true6
--- no_error_log
[error]

=== TEST 11: an entry thread's error aborts its light threads
--- config
    location = /t {
        content_by_lua_block {
            ngx.thread.spawn(function() ngx.sleep(0.05) ngx.log(ngx.ERR, "thread still ran") end)
            ngx.sleep(0.01)
            error("entry fails")
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/lua entry thread aborted: runtime error: content_by_lua\(nginx.conf:\d+\):4: entry fails/
--- no_error_log
thread still ran

=== TEST 12: many light threads, each waited for
--- config
    location = /t {
        content_by_lua_block {
            local threads = {}
            for i = 1, 200 do
                threads[i] = ngx.thread.spawn(function(n) ngx.sleep(0.001 * (n % 5)) return n * 2 end, i)
            end
            local sum = 0
            for i = 1, 200 do
                local ok, v = ngx.thread.wait(threads[i])
                sum = sum + v
            end
            ngx.say(sum)
        }
    }
--- request
GET /t
--- response_body
40200
--- no_error_log
[error]



=== TEST 13: a light thread's status through its life, and kill after wait or kill, many times over (the marks compiled once hot)
--- config
    location = /t {
        content_by_lua_block {
            local seen = {}
            local function note(s)
                seen[s] = (seen[s] or 0) + 1
            end
            for i = 1, 120 do
                local t = ngx.thread.spawn(function() ngx.sleep(0) end)
                note("spawned " .. coroutine.status(t))
                local quick = ngx.thread.spawn(function() return i end)
                note("ended first " .. coroutine.status(quick))
                local ok, v = ngx.thread.wait(quick)
                note("waited " .. tostring(ok and v == i) .. " " .. coroutine.status(quick))
                note("kill waited " .. tostring(select(2, ngx.thread.kill(quick))))
                note("kill live " .. tostring(ngx.thread.kill(t)))
                note("kill again " .. tostring(select(2, ngx.thread.kill(t))))
            end
            local keys = {}
            for k, n in pairs(seen) do keys[#keys + 1] = k .. ": " .. n end
            table.sort(keys)
            ngx.say(table.concat(keys, "\n"))
        }
    }
--- request
GET /t
--- response_body
ended first zombie: 120
kill again already waited or killed: 120
kill live 1: 120
kill waited already waited or killed: 120
spawned running: 120
waited true dead: 120
--- no_error_log
[error]
