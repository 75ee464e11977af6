# Debian's lua-nginx-memcached (resty.memcached, as `nginx.memcached`), unmodified,
# against a real memcached (started by the runner; `$TEST_NGINX_MEMCACHED_PORT`).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: set, get, add, incr, delete, flags, keepalive
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local memcached = require "nginx.memcached"
            local memc = memcached:new()
            memc:set_timeout(1000)
            ngx.say("connect: ", memc:connect("127.0.0.1", $TEST_NGINX_MEMCACHED_PORT))
            ngx.say("set: ", memc:set("m1:dog", "32", 0, 7))
            ngx.say("get: ", memc:get("m1:dog"))
            ngx.say("add: ", memc:add("m1:dog", "x"))
            ngx.say("incr: ", memc:incr("m1:dog", 10))
            ngx.say("delete: ", memc:delete("m1:dog"))
            ngx.say("gone: ", memc:get("m1:dog"))
            ngx.say("keepalive: ", memc:set_keepalive(10000, 10))
            local memc2 = memcached:new()
            assert(memc2:connect("127.0.0.1", $TEST_NGINX_MEMCACHED_PORT))
            ngx.say("reused: ", memc2:get_reused_times())
        }
    }
--- request
GET /t
--- response_body
connect: 1
set: 1
get: 327
add: nilNOT_STORED
incr: 42
delete: 1
gone: nilnilnil
keepalive: 1
reused: 1
--- no_error_log
[error]

=== TEST 2: a multi-get and a large value
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local memc = require("nginx.memcached"):new()
            assert(memc:connect("127.0.0.1", $TEST_NGINX_MEMCACHED_PORT))
            local big = string.rep("0123456789", 50000)
            memc:set("m2:a", "1")
            memc:set("m2:big", big)
            local res = memc:get({ "m2:a", "m2:big", "m2:none" })
            ngx.say(res["m2:a"][1], " ", #res["m2:big"][1] == #big, " ", res["m2:none"])
        }
    }
--- request
GET /t
--- response_body
1 true nil
--- no_error_log
[error]
