# lua-resty-core's ngx.errlog: raw_log, lua_capture_error_log with get_logs and the
# capture filter, the error log's own level.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: get_logs returns the lines written since, as level, time, line
--- http_config
    lua_capture_error_log 4m;
--- config
    location = /t {
        access_by_lua_block {
            ngx.log(ngx.ERR, "enter 1")
            ngx.log(ngx.WARN, "enter 22")
        }
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            local res, err = errlog.get_logs()
            ngx.say(#res / 3, " ", err)
            for i = 1, #res, 3 do
                ngx.say(res[i], " ", type(res[i + 1]), " ", math.abs(res[i + 1] - ngx.now()) < 5)
                ngx.say(res[i + 2])
            end
            ngx.say(#errlog.get_logs())
        }
    }
--- request
GET /t
--- response_body_like chop
^2 nil
4 number true
\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[error\] \d+#\d+: \*\d+ \[lua\] access_by_lua\(nginx\.conf:\d+\):2: enter 1, client: 127\.0\.0\.1, server: localhost, request: "GET /t HTTP/1\.1", host: "localhost"
5 number true
\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[warn\] \d+#\d+: \*\d+ \[lua\] access_by_lua\(nginx\.conf:\d+\):3: enter 22, client: 127\.0\.0\.1, server: localhost, request: "GET /t HTTP/1\.1", host: "localhost"
0
$

=== TEST 2: init_by_lua's lines are captured too, and lines below the error_log level are not
--- log_level: warn
--- http_config
    lua_capture_error_log 32k;
    init_by_lua_block {
        ngx.log(ngx.WARN, "from init")
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.INFO, "not written, not kept")
            local res = require("ngx.errlog").get_logs(100)
            for i = 3, #res, 3 do
                if res[i]:find("from init", 1, true) then
                    ngx.say("init line kept: ", res[i]:match("%[lua%] .*"))
                end
                if res[i]:find("not kept", 1, true) then
                    ngx.say("info line kept")
                end
            end
        }
    }
--- request
GET /t
--- response_body
init line kept: [lua] init_by_lua(nginx.conf:26):2: from init

=== TEST 3: max limits the count; a given table is filled and ended with nil
--- http_config
    lua_capture_error_log 4m;
--- config
    location = /t {
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            errlog.get_logs(1000)
            for i = 1, 3 do ngx.log(ngx.ERR, "line ", i) end
            local res = { "x", "x", "x", "x", "x", "x", "x", "x", "x", "x" }
            local got = errlog.get_logs(2, res)
            ngx.say(got == res, " ", res[3]:match("line %d"), " ", res[6]:match("line %d"), " ", res[7], " ", res[8])
            got = errlog.get_logs(2, res)
            ngx.say(res[3]:match("line %d"), " ", res[4], " ", res[6]:match("line %d"))
            ngx.say(#errlog.get_logs(0))
        }
    }
--- request
GET /t
--- response_body
true line 1 line 2 nil x
line 3 nil line 2
0

=== TEST 4: set_filter_level keeps only lines as severe or more
--- http_config
    lua_capture_error_log 4m;
--- log_level: info
--- config
    location = /t {
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            errlog.get_logs(1000)
            ngx.say(errlog.set_filter_level(ngx.WARN))
            ngx.log(ngx.INFO, "-->1")
            ngx.log(ngx.WARN, "-->2")
            ngx.log(ngx.ERR, "-->3")
            local res = errlog.get_logs()
            for i = 1, #res, 3 do ngx.say(res[i], " ", res[i + 2]:match("%-%->%d")) end
            ngx.say(errlog.set_filter_level(ngx.DEBUG))
        }
    }
--- request
GET /t
--- response_body
true
5 -->2
4 -->3
true
--- error_log
-->1

=== TEST 5: set_filter_level's errors
--- http_config
    lua_capture_error_log 4k;
--- config
    location = /t {
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            ngx.say(errlog.set_filter_level())
            ngx.say(errlog.set_filter_level(9))
            ngx.say(errlog.set_filter_level(-1))
        }
    }
--- request
GET /t
--- response_body
nilmissing "level" argument
nilbad log level: 9
nilbad log level: -1

=== TEST 6: without lua_capture_error_log, get_logs and set_filter_level say so
--- config
    location = /t {
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            ngx.say(errlog.get_logs())
            ngx.say(errlog.set_filter_level(ngx.ERR))
        }
    }
--- request
GET /t
--- response_body
nildirective "lua_capture_error_log" is not set
nildirective "lua_capture_error_log" is not set

=== TEST 7: the oldest lines go when the buffer is full; a line larger than it is not kept
--- http_config
    lua_capture_error_log 4k;
--- config
    location = /t {
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            errlog.get_logs(1000)
            ngx.log(ngx.ERR, "big ", string.rep("a", 4096))
            for i = 1, 100 do ngx.log(ngx.ERR, "--> ", i) end
            local res = errlog.get_logs(1000)
            local first, last = res[3]:match("%-%-> (%d+)"), res[#res]:match("%-%-> (%d+)")
            ngx.say(#res / 3 < 100, " ", #res / 3 > 5, " ", tonumber(first) > 1, " ", last)
        }
    }
--- request
GET /t
--- response_body
true true true 100

=== TEST 8: lua_capture_error_log needs a size of 4k or more
--- http_config
    lua_capture_error_log 3k;
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid capture error log size "3k", minimum size is 4096

=== TEST 9: lua_capture_error_log takes one argument
--- http_config
    lua_capture_error_log;
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid number of arguments in "lua_capture_error_log" directive

=== TEST 10: get_sys_filter_level is the error_log level
--- log_level: warn
--- config
    location = /t {
        content_by_lua_block {
            local errlog = require "ngx.errlog"
            ngx.say(errlog.get_sys_filter_level() == ngx.WARN)
        }
    }
--- request
GET /t
--- response_body
true

=== TEST 11: raw_log writes the message as given, with the request's context
--- config
    location = /t {
        content_by_lua_block {
            require("ngx.errlog").raw_log(ngx.ERR, "raw message here")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[error\] \d+#\d+: \*\d+ raw message here, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1"/

=== TEST 12: raw_log's argument errors
--- config
    location = /t {
        content_by_lua_block {
            local raw_log = require("ngx.errlog").raw_log
            ngx.say(pcall(raw_log, "4", "x"))
            ngx.say(pcall(raw_log, ngx.ERR, 12))
            ngx.say(pcall(raw_log, 9, "x"))
        }
    }
--- request
GET /t
--- response_body
falsebad argument #1 to 'raw_log' (must be a number)
falsebad argument #2 to 'raw_log' (must be a string)
falsebad log level

=== TEST 13: raw_log in init_worker_by_lua has no request context
--- http_config
    init_worker_by_lua_block {
        require("ngx.errlog").raw_log(ngx.WARN, "raw from init_worker")
    }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[warn\] \d+#\d+: raw from init_worker\n/
