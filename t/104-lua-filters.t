# header_filter_by_lua, body_filter_by_lua, log_by_lua.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: header_filter_by_lua adds a header
--- config
    location = /t {
        header_filter_by_lua_block { ngx.header["X-Filtered"] = "yes" }
        content_by_lua_block { ngx.say("body") }
    }
--- request
GET /t
--- response_headers
X-Filtered: yes
--- response_body
body

=== TEST 2: header_filter_by_lua sees the status and can change it
--- config
    location = /t {
        header_filter_by_lua_block {
            ngx.header["X-Status"] = ngx.status
            ngx.status = 202
        }
        return 200 "ok\n";
    }
--- request
GET /t
--- error_code: 202
--- response_headers
X-Status: 200

=== TEST 3: header filter on a static file and on an error page
--- config
    header_filter_by_lua_block { ngx.header["X-Phase"] = ngx.get_phase() }
--- request
GET /missing
--- error_code: 404
--- response_headers
X-Phase: header_filter

=== TEST 4: body_filter_by_lua rewrites chunks
--- config
    location = /t {
        body_filter_by_lua_block {
            ngx.arg[1] = string.upper(ngx.arg[1])
        }
        content_by_lua_block {
            ngx.say("hello")
            ngx.say("world")
        }
    }
--- request
GET /t
--- response_body
HELLO
WORLD

=== TEST 5: body_filter_by_lua sees eof and can append
--- config
    location = /t {
        body_filter_by_lua_block {
            if ngx.arg[2] then
                ngx.arg[1] = ngx.arg[1] .. "-- the end\n"
            end
        }
        content_by_lua_block { ngx.say("text") }
    }
--- request
GET /t
--- response_body
text
-- the end

=== TEST 6: body_filter_by_lua truncates the stream
--- config
    location = /t {
        body_filter_by_lua_block {
            if ngx.arg[1]:find("stop") then
                ngx.arg[1] = "stopped\n"
                ngx.arg[2] = true
            end
        }
        content_by_lua_block {
            ngx.say("one")
            ngx.say("stop here")
            ngx.say("never seen")
        }
    }
--- request
GET /t
--- response_body
one
stopped

=== TEST 7: body_filter_by_lua drops chunks
--- config
    location = /t {
        body_filter_by_lua_block {
            if ngx.arg[1] == "secret\n" then ngx.arg[1] = nil end
        }
        content_by_lua_block {
            ngx.say("public")
            ngx.say("secret")
        }
    }
--- request
GET /t
--- response_body
public

=== TEST 8: body filter on a static file
--- config
    location ~ ^/ {
        body_filter_by_lua_block { ngx.arg[1] = ngx.arg[1]:gsub("a", "b") }
    }
--- user_files
>>> f.txt
banana
--- request
GET /f.txt
--- response_body
bbnbnb

=== TEST 9: log_by_lua runs after the response
--- config
    location = /t {
        log_by_lua_block { ngx.log(ngx.WARN, "logged status ", ngx.status, " var ", ngx.var.uri) }
        content_by_lua_block { ngx.say("ok") }
    }
--- request
GET /t
--- response_body
ok
--- error_log
logged status 200 var /t

=== TEST 10: ngx.sleep in a body filter sleeps blocking, as OpenResty in phases that cannot yield
--- config
    location = /t {
        body_filter_by_lua_block {
            if not ngx.arg[2] then return end
            local start = ngx.now()
            ngx.sleep(0.05)
            ngx.update_time()
            ngx.log(ngx.WARN, "slept: ", ngx.now() - start >= 0.04)
        }
        content_by_lua_block { ngx.say("ok") }
    }
--- request
GET /t
--- response_body
ok
--- error_log
slept: true
--- no_error_log
[error]

=== TEST 11: an error in a header filter drops the response
--- config
    location = /t {
        header_filter_by_lua_block { error("bad filter") }
        content_by_lua_block { ngx.say("ok") }
    }
--- request
GET /t
--- ignore_response
--- error_log eval
qr/failed to run header_filter_by_lua\*: header_filter_by_lua\(nginx\.conf:\d+\):1: bad filter/

=== TEST 12: filters and log are inherited from the server
--- config
    header_filter_by_lua_block { ngx.header["X-Srv"] = "1" }
    log_by_lua_block { ngx.log(ngx.WARN, "srv log") }
    location = /t { content_by_lua_block { ngx.say("ok") } }
--- request
GET /t
--- response_headers
X-Srv: 1
--- error_log
srv log
