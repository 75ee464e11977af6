# Edge cases and error paths of the Lua API.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.exit with an error status after output is logged
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("sent")
            ngx.exit(500)
        }
    }
--- request
GET /t
--- ignore_response
--- error_log
attempt to set status 500 via ngx.exit after sending out the response status 200

=== TEST 2: ngx.exit with a non-number
--- config
    location = /t { content_by_lua_block { ngx.exit("x") } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'exit' (number expected, got string)

=== TEST 3: ngx.exit(ngx.ERROR) drops the connection
--- config
    location = /t { content_by_lua_block { ngx.exit(ngx.ERROR) } }
--- request
GET /t
--- ignore_response
--- no_error_log
[error]

=== TEST 4: ngx.exit(444) closes without a response
--- config
    location = /t { access_by_lua_block { ngx.exit(444) } }
--- request
GET /t
--- ignore_response

=== TEST 5: ngx.exit refuses ngx.DONE and ngx.AGAIN, as current OpenResty
--- config
    location = /t {
        content_by_lua_block {
            local _, e1 = pcall(ngx.exit, ngx.DONE)
            local _, e2 = pcall(ngx.exit, ngx.AGAIN)
            ngx.say(e1)
            ngx.say(e2)
        }
    }
--- request
GET /t
--- response_body
bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE
bad argument to 'ngx.exit': does not accept NGX_AGAIN or NGX_DONE

=== TEST 6: ngx.exit(204) sends no body
--- config
    location = /t { content_by_lua_block { ngx.exit(204) } }
--- request
GET /t
--- error_code: 204
--- response_body

=== TEST 7: ngx.exit(201) before output
--- config
    location = /t { content_by_lua_block { ngx.exit(201) } }
--- request
GET /t
--- error_code: 201

=== TEST 8: ngx.status set to an invalid code
--- config
    location = /t { content_by_lua_block { ngx.status = 99 } }
--- request
GET /t
--- error_code: 500
--- error_log
invalid HTTP status code 99

=== TEST 9: ngx.status as a string number
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = "202"
            ngx.say(ngx.status)
        }
    }
--- request
GET /t
--- error_code: 202
--- response_body
202

=== TEST 9b: ngx.status from a string with a fraction is cut to its integer; a word is an error
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = " 203.9 "
            local ok, err = pcall(function() ngx.status = "many" end)
            ngx.say(ngx.status, " ", ok, " ", err)
        }
    }
--- request
GET /t
--- error_code: 203
--- response_body_like: ^203 false .*attempt to set ngx.status to a non-number

=== TEST 10: ngx.print returns 1, and nil after eof
--- config
    location = /t {
        content_by_lua_block {
            local a = ngx.print("x")
            ngx.eof()
            local b = ngx.print("y")
            ngx.log(ngx.WARN, "print results ", a, " ", tostring(b))
        }
    }
--- request
GET /t
--- response_body chomp
x
--- error_log
print results 1 nil

=== TEST 11: ngx.eof twice
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a")
            ngx.eof()
            local ok, err = ngx.eof()
            ngx.log(ngx.WARN, "second eof: ", tostring(ok), " ", err)
        }
    }
--- request
GET /t
--- response_body
a
--- error_log
second eof: nil seen eof

=== TEST 12: ngx.say with many arguments and deep nesting
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("a", {"b", {"c", {"d", {"e"}}}}, 1.5, -2, 1e300 > 1)
        }
    }
--- request
GET /t
--- response_body
abcde1.5-2true

=== TEST 13: ngx.say of an empty table and empty string
--- config
    location = /t {
        content_by_lua_block {
            ngx.say({})
            ngx.say("")
            ngx.say()
        }
    }
--- request
GET /t
--- response_body eval
"\n\n\n"

=== TEST 14: large output is streamed out
--- config
    location = /t {
        content_by_lua_block {
            local chunk = string.rep("x", 1023) .. "\n"
            for i = 1, 200 do ngx.print(chunk) end
        }
    }
--- request
GET /t
--- response_body eval
"" . ("x" x 1023 . "\n") x 200

=== TEST 15: ngx.flush(true) then more output
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("first")
            ngx.flush(true)
            ngx.sleep(0.01)
            ngx.say("second")
        }
    }
--- request
GET /t
--- response_body
first
second

=== TEST 16: ngx.log with a table without __tostring
--- config
    location = /t { content_by_lua_block { ngx.log(ngx.ERR, {}) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'log' (expected table to have __tostring metamethod)

=== TEST 17: ngx.log with a __tostring table
--- config
    location = /t {
        content_by_lua_block {
            local t = setmetatable({}, {__tostring = function() return "I am a table" end})
            ngx.log(ngx.WARN, t)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- error_log
I am a table

=== TEST 18: ngx.log without arguments
--- config
    location = /t { content_by_lua_block { ngx.log() } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'log' (number expected, got no value)

=== TEST 19: ngx.var with a number index before any capture
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.var[1]) } }
--- request
GET /t
--- response_body
nil

=== TEST 20: ngx.var set to a table is an error
--- config
    location = /t {
        set $v "";
        content_by_lua_block { ngx.var.v = {} }
    }
--- request
GET /t
--- error_code: 500
--- error_log
bad variable value: table given

=== TEST 21: ngx.var set to nil unsets it
--- config
    location = /t {
        set $v "x";
        content_by_lua_block {
            ngx.var.v = nil
            ngx.say(tostring(ngx.var.v))
        }
    }
--- request
GET /t
--- response_body
nil

=== TEST 22: ngx.var set to a number
--- config
    location = /t {
        set $v "";
        content_by_lua_block {
            ngx.var.v = 42
            ngx.say(ngx.var.v, " ", type(ngx.var.v))
        }
    }
--- request
GET /t
--- response_body
42 string

=== TEST 23: ngx.header with a number value and reading a missing header
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-Num"] = 42
            ngx.say(ngx.header["X-Num"], " ", tostring(ngx.header["X-None"]))
        }
    }
--- request
GET /t
--- response_headers
X-Num: 42
--- response_body
42 nil

=== TEST 24: ngx.header with a bad value type
--- config
    location = /t { content_by_lua_block { ngx.header["X-Bad"] = function() end } }
--- request
GET /t
--- error_code: 500
--- error_log
attempt to set a header value of type function

=== TEST 25: invalid Content-Length through ngx.header
--- config
    location = /t { content_by_lua_block { ngx.header.content_length = "abc" } }
--- request
GET /t
--- error_code: 500
--- error_log
invalid Content-Length header value: abc

=== TEST 26: ngx.ctx set to a non-table
--- config
    location = /t { content_by_lua_block { ngx.ctx = 1 } }
--- request
GET /t
--- error_code: 500
--- error_log
ctx should be a table while getting a number

=== TEST 27: ngx.req.get_headers(0) returns all headers
--- config
    location = /t {
        content_by_lua_block {
            local h, err = ngx.req.get_headers(0)
            local n = 0
            for _ in pairs(h) do n = n + 1 end
            ngx.say(n >= 3, " ", tostring(err))
        }
    }
--- request
GET /t
--- more_headers
A: 1
B: 2
--- response_body
true nil

=== TEST 28: ngx.req.get_headers raw keeps case
--- config
    location = /t {
        content_by_lua_block {
            local h = ngx.req.get_headers(nil, true)
            ngx.say(h["X-MiXed"], " ", tostring(h["x-mixed"]))
        }
    }
--- request
GET /t
--- more_headers
X-MiXed: yes
--- response_body
yes nil

=== TEST 29: ngx.redirect after output is an error
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("x")
            ngx.redirect("/y")
        }
    }
--- request
GET /t
--- ignore_response
--- error_log
attempt to call ngx.redirect after sending out the headers

=== TEST 30: ngx.exec with an empty uri
--- config
    location = /t { content_by_lua_block { ngx.exec("") } }
--- request
GET /t
--- error_code: 500
--- error_log
The uri argument is empty

=== TEST 31: ngx.exec with args in the uri and a table
--- config
    location = /t { content_by_lua_block { ngx.exec("/o?a=1", { b = 2 }) } }
    location = /o { content_by_lua_block { ngx.say(ngx.var.args) } }
--- request
GET /t
--- response_body
a=1&b=2

=== TEST 32: ngx.exec to a missing named location
--- config
    location = /t { content_by_lua_block { ngx.exec("@nowhere") } }
--- request
GET /t
--- error_code: 500
--- error_log
could not find named location "@nowhere"

=== TEST 33: ngx.sleep(0) yields and goes on
--- config
    location = /t {
        content_by_lua_block {
            ngx.sleep(0)
            ngx.say("after zero sleep")
        }
    }
--- request
GET /t
--- response_body
after zero sleep

=== TEST 34: ngx.sleep negative
--- config
    location = /t { content_by_lua_block { ngx.sleep(-1) } }
--- request
GET /t
--- error_code: 500
--- error_log
invalid sleep duration

=== TEST 35: runtime error in access_by_lua
--- config
    location = /t {
        access_by_lua_block { local t = nil; t.x = 1 }
        content_by_lua_block { ngx.say("unreachable") }
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/lua entry thread aborted: runtime error: access_by_lua\(nginx\.conf:\d+\):1: attempt to index local 't' \(a nil value\)/

=== TEST 36: runtime error in rewrite_by_lua_file names the file
--- config
    location = /t {
        rewrite_by_lua_file html/bad.lua;
    }
--- user_files
>>> bad.lua
local x = 1
error("bad file")
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/lua entry thread aborted: runtime error: \S*bad\.lua:2: bad file/

=== TEST 37: syntax error in a Lua file
--- config
    location = /t { content_by_lua_file html/syntax.lua; }
--- user_files
>>> syntax.lua
local a = 3 +
--- request
GET /t
--- error_code: 500
--- error_log
failed to load external Lua file
