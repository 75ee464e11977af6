# User coroutines alongside yielding APIs.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.sleep inside a user coroutine
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function(a)
                ngx.sleep(0.01)
                local b = coroutine.yield(a + 1)
                ngx.sleep(0.01)
                return b * 2
            end)
            local ok, v = coroutine.resume(co, 1)
            ngx.say(ok, " ", v, " ", coroutine.status(co))
            ok, v = coroutine.resume(co, 10)
            ngx.say(ok, " ", v, " ", coroutine.status(co))
        }
    }
--- request
GET /t
--- response_body
true 2 suspended
true 20 dead

=== TEST 2: coroutine.wrap generator with ngx.sleep
--- config
    location = /t {
        content_by_lua_block {
            local gen = coroutine.wrap(function()
                for i = 1, 3 do
                    ngx.sleep(0.001)
                    coroutine.yield(i)
                end
            end)
            ngx.say(gen(), gen(), gen())
        }
    }
--- request
GET /t
--- response_body
123

=== TEST 3: an error inside coroutine.wrap propagates
--- config
    location = /t {
        content_by_lua_block {
            local f = coroutine.wrap(function() error("inner", 0) end)
            local ok, err = pcall(f)
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false inner

=== TEST 4: coroutine.resume of a failing coroutine returns false
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function() error("oops", 0) end)
            ngx.say(coroutine.resume(co))
        }
    }
--- request
GET /t
--- response_body
falseoops

=== TEST 5: ngx.exit inside a nested coroutine ends the request
--- config
    location = /t {
        content_by_lua_block {
            local co = coroutine.create(function()
                ngx.say("inside")
                ngx.exit(200)
            end)
            coroutine.resume(co)
            ngx.say("not reached")
        }
    }
--- request
GET /t
--- response_body
inside

=== TEST 6: a plain coroutine.yield in the entry thread lets the request go on
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            coroutine.yield()
            ngx.say("b")
        }
    }
--- request
GET /t
--- response_body
a
b
