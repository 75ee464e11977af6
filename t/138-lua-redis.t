# Debian's lua-nginx-redis (resty.redis, as `nginx.redis`), unmodified, against a real
# redis-server (started by the runner; `$TEST_NGINX_REDIS_PORT`).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: commands, nil answers, hashes, errors
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "nginx.redis"
            local red = redis:new()
            red:set_timeout(1000)
            local ok, err = red:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT)
            ngx.say("connect: ", ok, " ", err)
            ngx.say("set: ", red:set("t1:dog", "an animal"))
            ngx.say("get: ", red:get("t1:dog"))
            ngx.say("missing is null: ", red:get("t1:nokey") == ngx.null)
            ngx.say("hmset: ", red:hmset("t1:h", "a", 1, "b", 2))
            ngx.say("hgetall: ", table.concat(red:hgetall("t1:h"), ","))
            red:del("t1:n")
            ngx.say("incr: ", red:incr("t1:n"), " ", red:incrby("t1:n", 10))
            local res, err = red:hget("t1:dog", "x")
            ngx.say("wrong type: ", res, " ", err)
            ngx.say("close: ", red:close())
        }
    }
--- request
GET /t
--- response_body
connect: 1 nil
set: OK
get: an animal
missing is null: true
hmset: OK
hgetall: a,1,b,2
incr: 1 11
wrong type: false WRONGTYPE Operation against a key holding the wrong kind of value
close: 1
--- no_error_log
[error]

=== TEST 2: pipelining
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local red = require("nginx.redis"):new()
            assert(red:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT))
            red:init_pipeline()
            for i = 1, 100 do
                red:set("t2:k" .. i, i)
            end
            for i = 1, 100 do
                red:get("t2:k" .. i)
            end
            local results, err = red:commit_pipeline()
            local sum = 0
            for i = 101, 200 do sum = sum + tonumber(results[i]) end
            ngx.say(#results, " ", results[1], " ", sum)
        }
    }
--- request
GET /t
--- response_body
200 OK 5050
--- no_error_log
[error]

=== TEST 3: pub/sub between two connections, one of them in a light thread
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "nginx.redis"
            local sub = redis:new()
            assert(sub:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT))
            local res = sub:subscribe("t3:chan")
            ngx.say("subscribe: ", table.concat(res, " "))
            local t = ngx.thread.spawn(function()
                local msgs = {}
                for i = 1, 2 do
                    local m = sub:read_reply()
                    msgs[#msgs + 1] = m[3]
                end
                return table.concat(msgs, ",")
            end)
            local pub = redis:new()
            assert(pub:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT))
            ngx.say("publish: ", pub:publish("t3:chan", "hello"), " ", pub:publish("t3:chan", "world"))
            ngx.say("got: ", select(2, ngx.thread.wait(t)))
            ngx.say("unsubscribe: ", table.concat(sub:unsubscribe("t3:chan"), " "))
        }
    }
--- request
GET /t
--- response_body
subscribe: subscribe t3:chan 1
publish: 1 1
got: hello,world
unsubscribe: unsubscribe t3:chan 0
--- no_error_log
[error]

=== TEST 4: connections go back to the pool and are reused, across requests too
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "nginx.redis"
            local times = {}
            for i = 1, 3 do
                local red = redis:new()
                assert(red:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT))
                times[i] = red:get_reused_times()
                red:set("t4:x", i)
                assert(red:set_keepalive(10000, 10))
            end
            ngx.say(table.concat(times, " "))
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["0 1 2\n", "3 4 5\n"]
--- no_error_log
[error]

=== TEST 5: a read timeout from redis, and a refused connection
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local redis = require "nginx.redis"
            local red = redis:new()
            red:set_timeout(100)
            assert(red:connect("127.0.0.1", $TEST_NGINX_REDIS_PORT))
            ngx.say(red:blpop("t5:empty", 1))
            local red2 = redis:new()
            ngx.say(red2:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
        }
    }
--- request
GET /t
--- response_body
niltimeout
nilconnection refused
--- error_log
lua tcp socket read timed out
