# Lua handlers in every phase, output, exit, status, errors, sleep.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: content_by_lua_block says hello
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("hello")
        }
    }
--- request
GET /t
--- response_body
hello
--- response_headers
Content-Type: text/plain
--- no_error_log
[error]

=== TEST 2: content_by_lua with a string argument
--- config
    location = /t {
        content_by_lua 'ngx.say("from a string")';
    }
--- request
GET /t
--- response_body
from a string

=== TEST 3: content_by_lua_file relative to the prefix
--- config
    location = /t {
        content_by_lua_file html/t.lua;
    }
--- user_files
>>> t.lua
ngx.say("from a file")
--- request
GET /t
--- response_body
from a file

=== TEST 4: ngx.print and ngx.say with numbers, booleans, nil, ngx.null and array tables
--- config
    location = /t {
        content_by_lua_block {
            ngx.print("a", 1, " ", 2.5, " ", true, " ", nil, " ", ngx.null, "\n")
            ngx.say({"x", {"y", 3}}, "z")
        }
    }
--- request
GET /t
--- response_body
a1 2.5 true nil null
xy3z

=== TEST 5: ngx.say refuses a function
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(print)
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'say' (string, number, boolean, nil, ngx.null, or array table expected, got function)

=== TEST 6: ngx.say refuses a hash table
--- config
    location = /t {
        content_by_lua_block {
            ngx.say({a = 1})
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'say' (non-array table found)

=== TEST 7: a runtime error before output is a 500 with OpenResty's log line
--- config
    location = /t {
        content_by_lua_block {
            local x = nil
            x()
        }
    }
--- request
GET /t
--- error_code: 500
--- response_body_like: 500 Internal Server Error
--- error_log eval
[qr/\[error\] .*lua entry thread aborted: runtime error: content_by_lua\(nginx\.conf:\d+\):3: attempt to call local 'x' \(a nil value\)$/,
qr/^stack traceback:$/]

=== TEST 8: error() with a string message
--- config
    location = /t {
        content_by_lua_block {
            error("boom")
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/lua entry thread aborted: runtime error: content_by_lua\(nginx\.conf:\d+\):2: boom/

=== TEST 9: an error after output closes the connection, the worker lives on
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("partial")
            ngx.flush(true)
            error("late")
        }
    }
--- request
GET /t
--- ignore_response
--- error_log
lua entry thread aborted: runtime error

=== TEST 10: a syntax error is reported at request time
--- config
    location = /t {
        content_by_lua 'for end';
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/failed to load inlined Lua code: content_by_lua\(nginx\.conf:\d+\):1: /

=== TEST 11: a missing Lua file
--- config
    location = /t {
        content_by_lua_file html/missing.lua;
    }
--- request
GET /t
--- error_code: 404
--- error_log eval
qr/failed to load external Lua file ".*missing\.lua": cannot open .*missing\.lua: No such file or directory,/

=== TEST 12: ngx.exit with an error status before output
--- config
    location = /t {
        content_by_lua_block {
            ngx.exit(403)
        }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 13: ngx.exit stops the code after it
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("before")
            ngx.exit(200)
            ngx.say("after")
        }
    }
--- request
GET /t
--- response_body
before

=== TEST 14: ngx.exit(ngx.OK) in access goes on to content
--- config
    location = /t {
        access_by_lua_block {
            ngx.exit(ngx.OK)
        }
        content_by_lua_block {
            ngx.say("content ran")
        }
    }
--- request
GET /t
--- response_body
content ran

=== TEST 15: ngx.exit(403) in access stops before content
--- config
    location = /t {
        access_by_lua_block { ngx.exit(403) }
        content_by_lua_block { ngx.say("unreachable") }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden
--- no_error_log
[error]

=== TEST 16: rewrite then access then content, in order
--- config
    location = /t {
        rewrite_by_lua_block { ngx.log(ngx.NOTICE, "phase ", ngx.get_phase()) }
        access_by_lua_block { ngx.log(ngx.NOTICE, "phase ", ngx.get_phase()) }
        content_by_lua_block { ngx.say(ngx.get_phase()) }
    }
--- request
GET /t
--- response_body
content
--- error_log
phase rewrite
phase access

=== TEST 17: rewrite_by_lua inherited from the server level
--- config
    rewrite_by_lua_block { ngx.log(ngx.NOTICE, "server-level rewrite") }
    location = /t {
        content_by_lua_block { ngx.say("ok") }
    }
--- request
GET /t
--- response_body
ok
--- error_log
server-level rewrite

=== TEST 18: ngx.exit(ngx.HTTP_OK) in rewrite ends the request
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.say("from rewrite")
            ngx.exit(ngx.HTTP_OK)
        }
        content_by_lua_block { ngx.say("unreachable") }
    }
--- request
GET /t
--- response_body
from rewrite

=== TEST 19: ngx.status set and read
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = 201
            ngx.say("status ", ngx.status)
        }
    }
--- request
GET /t
--- error_code: 201
--- response_body
status 201

=== TEST 20: setting ngx.status after the headers went out is logged
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("x")
            ngx.status = 500
            ngx.say("still here")
        }
    }
--- request
GET /t
--- response_body
x
still here
--- error_log
attempt to set ngx.status after sending out response headers

=== TEST 21: ngx.headers_sent
--- config
    location = /t {
        content_by_lua_block {
            local before = ngx.headers_sent
            ngx.send_headers()
            ngx.say(before, " ", ngx.headers_sent)
        }
    }
--- request
GET /t
--- response_body
false true

=== TEST 22: ngx.log with levels and the caller's place
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.WARN, "warned ", 42, " ", nil, " ", true)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[warn\] .*\[lua\] content_by_lua\(nginx\.conf:\d+\):2: warned 42 nil true, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", host: "localhost"/

=== TEST 23: print logs at notice
--- config
    location = /t {
        content_by_lua_block {
            print("printed")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- error_log eval
qr/\[notice\] .*\[lua\] content_by_lua\(nginx\.conf:\d+\):2: printed/

=== TEST 24: ngx.log with a bad level
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(99, "x")
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'log' (bad log level: 99)

=== TEST 25: ngx.log filtered by error_log level
--- log_level: warn
--- config
    location = /t {
        content_by_lua_block {
            ngx.log(ngx.INFO, "quiet info")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- no_error_log
quiet info

=== TEST 26: ngx.sleep yields and resumes
--- config
    location = /t {
        content_by_lua_block {
            local t0 = os.clock()
            ngx.say("before")
            ngx.sleep(0.1)
            ngx.say("after")
        }
    }
--- request
GET /t
--- response_body
before
after

=== TEST 27: ngx.sleep with a bad argument
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep("abc")
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'sleep'

=== TEST 28: concurrent sleeping requests do not block each other
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep(0.2)
            ngx.say("woke")
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["woke\n", "woke\n"]

=== TEST 29: constants
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.OK, " ", ngx.ERROR, " ", ngx.DONE, " ", ngx.DECLINED, " ", ngx.AGAIN)
            ngx.say(ngx.HTTP_OK, " ", ngx.HTTP_NOT_FOUND, " ", ngx.HTTP_INTERNAL_SERVER_ERROR, " ", ngx.HTTP_GET)
            ngx.say(ngx.STDERR, " ", ngx.EMERG, " ", ngx.ERR, " ", ngx.DEBUG, " ", tostring(ngx.null))
        }
    }
--- request
GET /t
--- response_body_like chop
^0 -1 -4 -5 -2
200 404 500 2
0 1 4 8 userdata: (NULL|0x0+|null)
$

=== TEST 30: globals of LuaJIT are there: jit, ffi, bit
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            ngx.say(type(jit), " ", type(ffi.new), " ", bit.band(6, 3), " ", jit.version)
        }
    }
--- request
GET /t
--- response_body_like: ^table function 2 LuaJIT 2\.1

=== TEST 31: Lua 5.2 compatibility as OpenResty builds LuaJIT (# honours __len)
--- config
    location = /t {
        content_by_lua_block {
            local t = setmetatable({}, {__len = function() return 42 end})
            ngx.say(#t)
        }
    }
--- request
GET /t
--- response_body
42

=== TEST 32: a content handler that says nothing sends an empty 200
--- config
    location = /t {
        content_by_lua_block { local a = 1 }
    }
--- request
GET /t
--- response_body

=== TEST 33: duplicate content_by_lua_block
--- config
    location = /t {
        content_by_lua_block { ngx.say(1) }
        content_by_lua_block { ngx.say(2) }
    }
--- must_die
--- error_log
"content_by_lua_block" directive is duplicate

=== TEST 34: content_by_lua is not allowed at server level
--- config
    content_by_lua_block { ngx.say(1) }
--- must_die
--- error_log
"content_by_lua_block" directive is not allowed here

=== TEST 35: output is chunked when its length is unknown
--- config
    location = /t {
        content_by_lua_block { ngx.say("chunk") }
    }
--- request
GET /t
--- response_headers
Transfer-Encoding: chunked



=== TEST 36: ngx.say and ngx.print after a wait (the caller interpreted, the output path compiled once hot) with every kind and number of arguments
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep(0)
            for i = 1, 200 do ngx.print(i % 10) end
            ngx.say()
            for i = 1, 200 do
                if i % 50 == 0 then ngx.say(i, " ", i / 4) else ngx.print() end
            end
            for i = 1, 200 do
                if i % 100 == 0 then
                    ngx.say("a", "b", "c", "d", "e", "f", "g", "h", "i")
                    ngx.say(nil, true, false, ngx.null, {"t", {1}})
                    ngx.print(i)
                    ngx.print("\n")
                else
                    ngx.print("")
                end
            end
        }
    }
--- request
GET /t
--- response_body eval
("1234567890" x 20) . "\n50 12.5\n100 25\n150 37.5\n200 50\n"
. "abcdefghi\nniltruefalsenullt1\n100\nabcdefghi\nniltruefalsenullt1\n200\n"
--- no_error_log
[error]
