# Request and response headers, variables and phases seen from Lua.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.req.get_headers lowercases names unless raw is asked
--- config
    location = /t { content_by_lua_block {
        local h = ngx.req.get_headers()
        ngx.say(h["x-foo"], " ", h.X_Foo, " ", h["X-FOO"])
        local raw = ngx.req.get_headers(0, true)
        ngx.say(tostring(raw["x-foo"]), " ", raw["X-Foo"])
    } }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
bar bar bar
nil bar

=== TEST 2: ngx.req.get_headers with a limit returns "truncated"
--- config
    location = /t { content_by_lua_block {
        local h, err = ngx.req.get_headers(2)
        local n = 0
        for _ in pairs(h) do n = n + 1 end
        ngx.say(n, " ", err)
    } }
--- request
GET /t
--- more_headers
A: 1
B: 2
C: 3
--- response_body
2 truncated

=== TEST 3: ngx.req.set_header with a table sends several values
--- config
    location = /t { content_by_lua_block {
        ngx.req.set_header("X-Multi", {"a", "b"})
        local v = ngx.req.get_headers()["x-multi"]
        ngx.say(type(v), " ", v[1], v[2])
    } }
--- request
GET /t
--- response_body
table ab

=== TEST 4: ngx.req.set_header with nil clears the header
--- config
    location = /t { content_by_lua_block {
        ngx.req.set_header("X-Foo", nil)
        ngx.say(tostring(ngx.req.get_headers()["x-foo"]), " ", tostring(ngx.var.http_x_foo))
    } }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
nil nil

=== TEST 5: ngx.req.clear_header removes every value of a repeated header
--- config
    location = /t { content_by_lua_block {
        ngx.req.clear_header("X-Rep")
        ngx.say(tostring(ngx.req.get_headers()["x-rep"]))
    } }
--- request
GET /t
--- more_headers
X-Rep: 1
X-Rep: 2
--- response_body
nil

=== TEST 6: ngx.var.http_* maps dashes to underscores and is case-blind
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.var.http_x_my_header, " ", ngx.var.HTTP_X_MY_HEADER)
    } }
--- request
GET /t
--- more_headers
X-My-Header: v
--- response_body
v v

=== TEST 7: ngx.var.cookie_* and arg_*
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.var.cookie_sid, " ", ngx.var.arg_q, " ", tostring(ngx.var.arg_missing))
    } }
--- request
GET /t?q=hello%20x
--- more_headers
Cookie: a=1; sid=abc
--- response_body
abc hello%20x nil

=== TEST 8: an unknown variable reads as nil
--- config
    location = /t { content_by_lua_block {
        ngx.say(tostring(ngx.var.no_such_thing))
    } }
--- request
GET /t
--- response_body
nil

=== TEST 9: regex captures through ngx.var[n]
--- config
    location ~ ^/t/(\w+)/(\d+)$ { content_by_lua_block {
        ngx.say(ngx.var[1], " ", ngx.var[2], " ", tostring(ngx.var[3]), " ",
                tostring(ngx.var[0]), " ", tostring(ngx.var[-1]))
    } }
--- request
GET /t/abc/42
--- response_body
abc 42 nil nil nil

=== TEST 10: ngx.get_phase in every phase
--- config
    location = /t {
        set_by_lua_block $p { return ngx.get_phase() }
        rewrite_by_lua_block { ngx.ctx.p = { ngx.var.p, ngx.get_phase() } }
        access_by_lua_block { table.insert(ngx.ctx.p, ngx.get_phase()) }
        content_by_lua_block {
            table.insert(ngx.ctx.p, ngx.get_phase())
            ngx.say(table.concat(ngx.ctx.p, " "))
        }
        header_filter_by_lua_block { ngx.header["X-Phase"] = ngx.get_phase() }
        body_filter_by_lua_block { if ngx.arg[2] then ngx.arg[1] = ngx.arg[1] .. ngx.get_phase() .. "\n" end }
        log_by_lua_block { ngx.log(ngx.WARN, "phase: ", ngx.get_phase()) }
    }
--- request
GET /t
--- response_body
set rewrite access content
body_filter
--- response_headers
X-Phase: header_filter
--- error_log
phase: log

=== TEST 11: ngx.header returns a table for a multi-value header
--- config
    location = /t { content_by_lua_block {
        ngx.header["X-A"] = {"1", "2"}
        ngx.header.x_b = "3"
        local v = ngx.header["X-A"]
        ngx.say(type(v), " ", v[1], v[2])
        ngx.say(ngx.header["X-B"])
    } }
--- request
GET /t
--- response_body
table 12
3

=== TEST 12: ngx.header with an empty table clears it
--- config
    location = /t { content_by_lua_block {
        ngx.header["X-A"] = "1"
        ngx.header["X-A"] = {}
        ngx.say(tostring(ngx.header["X-A"]))
    } }
--- request
GET /t
--- response_body
nil
--- response_headers
X-A:

=== TEST 13: ngx.header.content_type sets the response type
--- config
    location = /t { content_by_lua_block {
        ngx.header.content_type = "application/json"
        ngx.say(ngx.header.content_type)
    } }
--- request
GET /t
--- response_body
application/json
--- response_headers
Content-Type: application/json

=== TEST 14: ngx.header with a number value
--- config
    location = /t { content_by_lua_block {
        ngx.header["X-N"] = 42
        ngx.say("ok")
    } }
--- request
GET /t
--- response_headers
X-N: 42

=== TEST 15: ngx.header with a boolean value takes its text, as lua-resty-core
--- config
    location = /t { content_by_lua_block {
        ngx.header["X-B"] = true
        ngx.header["X-L"] = {1, false}
        ngx.say("ok")
    } }
--- request
GET /t
--- response_headers
X-B: true
X-L: 1, false

=== TEST 16: ngx.resp.get_headers sees headers set in Lua
--- config
    location = /t {
        header_filter_by_lua_block {
            local h = ngx.resp.get_headers()
            ngx.header["X-Seen"] = h["x-one"]
        }
        content_by_lua_block {
            ngx.header["X-One"] = "1"
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
X-Seen: 1

=== TEST 17: ngx.var.request_body after reading the body
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        ngx.say(ngx.var.request_body)
    } }
--- request
POST /t
hello body
--- response_body
hello body

=== TEST 18: ngx.var.request_uri keeps the original after set_uri
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_uri("/other") }
        content_by_lua_block { ngx.say(ngx.var.uri, " ", ngx.var.request_uri) }
    }
--- request
GET /t?x=1
--- response_body
/other /t?x=1

=== TEST 19: ngx.var.args written in rewrite is seen by get_uri_args
--- config
    location = /t {
        rewrite_by_lua_block { ngx.var.args = "a=1&b=2" }
        content_by_lua_block {
            local a = ngx.req.get_uri_args()
            ngx.say(a.a, a.b, " ", ngx.var.arg_b, " ", ngx.var.is_args)
        }
    }
--- request
GET /t
--- response_body
12 2 ?

=== TEST 20: ngx.req.set_uri_args changes $args
--- config
    location = /t { content_by_lua_block {
        ngx.req.set_uri_args({b = "x y"})
        ngx.say(ngx.var.args)
    } }
--- request
GET /t?a=1
--- response_body
b=x%20y

=== TEST 21: CR and LF in header names and values set from Lua are escaped
--- config
    location = /t { content_by_lua_block {
        ngx.header["X-Inj"] = "a\r\nSet-Cookie: evil=1"
        ngx.header["X-Name\r\nBad"] = "v"
        ngx.say("ok")
    } }
--- request
GET /t
--- response_headers
X-Inj: a%0D%0ASet-Cookie: evil=1
X-Name%0D%0ABad: v
!Set-Cookie
--- response_body
ok

=== TEST 22: a redirect target with CR or LF is refused
--- config
    location = /t { content_by_lua_block { ngx.redirect("/x\r\nSet-Cookie: evil=1") } }
--- request
GET /t
--- error_code: 500
--- error_log
unsafe byte "0xd" in header "/x\x0D\x0ASet-Cookie: evil=1"
attempt to use unsafe uri

=== TEST 23: ngx.req.set_header escapes CR and LF too
--- config
    location = /t { content_by_lua_block {
        ngx.req.set_header("X-Q", "a\nb")
        ngx.say(ngx.var.http_x_q)
    } }
--- request
GET /t
--- response_body
a%0Ab

=== TEST 24: set_header Content-Length before the body is read: the read takes that much
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_header("content_length", 2048) }
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(#ngx.req.get_body_data(), " ", ngx.var.http_content_length)
        }
    }
--- request eval
"POST /t\n" . ("a" x 4096)
--- response_body
2048 2048

=== TEST 25: clear_header Content-Length before the body is read: no body
--- config
    location = /t {
        access_by_lua_block { ngx.req.clear_header("Content-Length") }
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data(), " ", ngx.var.http_content_length)
        }
    }
--- request
POST /t
hello
--- response_body
nil nil

=== TEST 26: a Content-Length that is not a number is refused
--- config
    location = /t {
        content_by_lua_block {
            local ok, err = pcall(ngx.req.set_header, "Content-Length", "12ab")
            ngx.say(ok, " ", err, " ", ngx.var.http_content_length)
        }
    }
--- request
POST /t
hello
--- response_body
false failed to set header 5

=== TEST 27: clear_header Host: $host falls back to the server name, $http_host is gone
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.clear_header("Host") }
        content_by_lua_block { ngx.say(ngx.var.host, " ", ngx.var.http_host) }
    }
--- request
GET /t
--- more_headers
Host: other.example
--- response_body
localhost nil

=== TEST 28: set_header Host changes $host; a list sets every value, $http_ joins them
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.req.set_header("Host", "Foo.Example")
            ngx.req.set_header("X-Foo", {"a", "b"})
        }
        content_by_lua_block {
            local h = ngx.req.get_headers()
            ngx.say(ngx.var.host, " ", ngx.var.http_x_foo, " ", #h["x-foo"])
        }
    }
--- request
GET /t
--- response_body
foo.example a, b 2

=== TEST 29: set_header takes booleans and numbers as tostring() writes them, in lists too
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_header("X-B", true)
            ngx.req.set_header("X-L", {false, 2, "c"})
            local h = ngx.req.get_headers()
            ngx.say(h["x-b"], " ", table.concat(h["x-l"], ","))
        }
    }
--- request
GET /t
--- response_body
true false,2,c

=== TEST 30: $http_ and $sent_http_ join lines of one name with ", " (Cookie with "; ")
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.cache_control = { "private", "no-store" }
            ngx.header["X-One"] = "1"
            ngx.say(ngx.var.sent_http_cache_control, "|", ngx.var.sent_http_x_one)
            ngx.say(ngx.var.http_x_dup, "|", ngx.var.http_cookie, "|", ngx.var.cookie_b)
        }
    }
--- request
GET /t
--- more_headers
X-Dup: a
Cookie: a=1
x-dup: b
Cookie: b=2
--- response_body
private, no-store|1
a, b|a=1; b=2|2

=== TEST 31: the logged target shows quotes and backslashes escaped too
--- config
    location = /t { content_by_lua_block { ngx.redirect("\r/a\\\"b") } }
--- request
GET /t
--- error_code: 500
--- error_log
unsafe byte "0xd" in header "\x0D/a\x5C\x22b"
