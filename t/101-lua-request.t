# ngx.var and `set`, ngx.req.*, ngx.header, ngx.ctx, ngx.redirect, ngx.exec.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: set and read variables
--- config
    location = /t {
        set $who "world";
        set $greeting "hello, $who";
        content_by_lua_block {
            ngx.say(ngx.var.greeting)
        }
    }
--- request
GET /t
--- response_body
hello, world

=== TEST 2: built-in variables through ngx.var
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.uri, " ", ngx.var.args, " ", ngx.var.arg_a, " ", ngx.var.request_method, " ", ngx.var.host)
            ngx.say(ngx.var.http_user_agent, " ", ngx.var.remote_addr, " ", ngx.var.server_port == tostring(ngx.var.server_port))
            ngx.say(ngx.var.no_such_thing)
        }
    }
--- request
GET /t?a=1&b=2
--- more_headers
User-Agent: spec
--- response_body
/t a=1&b=2 1 GET localhost
spec 127.0.0.1 true
nil

=== TEST 3: writing a declared variable
--- config
    location = /t {
        set $v "";
        content_by_lua_block {
            ngx.var.v = "written"
            ngx.say(ngx.var.v)
        }
    }
--- request
GET /t
--- response_body
written

=== TEST 4: writing an undeclared variable is an error
--- config
    location = /t {
        content_by_lua_block {
            ngx.var.nope = "x"
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
variable "nope" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use "set $nope '';" in the config file to define it

=== TEST 5: writing a read-only built-in is an error
--- config
    location = /t {
        content_by_lua_block {
            ngx.var.uri = "/x"
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
variable "uri" not changeable

=== TEST 6: ngx.var.args is writable
--- config
    location = /t {
        content_by_lua_block {
            ngx.var.args = "x=1"
            ngx.say(ngx.var.args, " ", ngx.var.arg_x)
        }
    }
--- request
GET /t?a=1
--- response_body
x=1 1

=== TEST 7: set runs in order with return
--- config
    location = /t {
        set $a "first";
        return 200 "$a\n";
        set $a "second";
    }
--- request
GET /t
--- response_body
first

=== TEST 8: set with a bad variable name
--- config
    location = /t {
        set a 1;
    }
--- must_die
--- error_log
invalid variable name "a"

=== TEST 9: set of a built-in variable
--- config
    location = /t {
        set $uri 1;
    }
--- must_die
--- error_log
the duplicate "uri" variable

=== TEST 10: server-level set is visible in locations
--- config
    set $srv "server value";
    location = /t {
        return 200 "$srv\n";
    }
--- request
GET /t
--- response_body
server value

=== TEST 11: ngx.req.get_method and http_version
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.req.get_method(), " ", ngx.req.http_version())
        }
    }
--- request
POST /t
hi
--- response_body
POST 1.1

=== TEST 12: ngx.req.get_uri_args
--- config
    location = /t {
        content_by_lua_block {
            local args = ngx.req.get_uri_args()
            ngx.say(args.a, " ", args.b[1], ",", args.b[2], " ", tostring(args.c), " ", args["d e"])
        }
    }
--- request
GET /t?a=1&b=x&b=y&c&d%20e=%41+b
--- response_body
1 x,y true A b

=== TEST 13: ngx.req.get_uri_args with a limit reports truncation
--- config
    location = /t {
        content_by_lua_block {
            local args, err = ngx.req.get_uri_args(2)
            local n = 0
            for _ in pairs(args) do n = n + 1 end
            ngx.say(n, " ", err)
        }
    }
--- request
GET /t?a=1&b=2&c=3
--- response_body
2 truncated

=== TEST 14: ngx.req.get_headers, any spelling
--- config
    location = /t {
        content_by_lua_block {
            local h = ngx.req.get_headers()
            ngx.say(h["x-foo"], " ", h["X-Foo"], " ", h.x_foo, " ", h.host)
        }
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- response_body
bar bar bar localhost

=== TEST 15: repeated request headers come as a table
--- config
    location = /t {
        content_by_lua_block {
            local v = ngx.req.get_headers()["x-multi"]
            ngx.say(type(v), " ", v[1], " ", v[2])
        }
    }
--- request
GET /t
--- more_headers
X-Multi: 1
X-Multi: 2
--- response_body
table 1 2

=== TEST 16: ngx.req.set_header and clear_header are seen by variables
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.req.set_header("X-Added", "yes")
            ngx.req.clear_header("X-Gone")
        }
        content_by_lua_block {
            ngx.say(ngx.var.http_x_added, " ", ngx.var.http_x_gone)
        }
    }
--- request
GET /t
--- more_headers
X-Gone: here
--- response_body
yes nil

=== TEST 17: ngx.req.read_body and get_body_data
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("body: ", ngx.req.get_body_data())
        }
    }
--- request
POST /t
hello body
--- response_body
body: hello body

=== TEST 18: a large body goes to a file
--- config
    location = /t {
        client_body_buffer_size 16;
        content_by_lua_block {
            ngx.req.read_body()
            local f = ngx.req.get_body_file()
            local fh = io.open(f)
            ngx.say(ngx.req.get_body_data(), " ", #fh:read("*a"))
            fh:close()
        }
    }
--- request eval
"POST /t\n" . ("x" x 100)
--- response_body
nil 100

=== TEST 19: ngx.req.get_post_args
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local args = ngx.req.get_post_args()
            ngx.say(args.a, " ", args.b)
        }
    }
--- request
POST /t
a=1&b=hello%20there
--- response_body
1 hello there

=== TEST 20: get_post_args before reading the body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.get_post_args()
        }
    }
--- request
POST /t
a=1
--- error_code: 500
--- error_log
no request body found; maybe you should turn on lua_need_request_body?

=== TEST 21: read_body over client_max_body_size is 413
--- config
    location = /t {
        client_max_body_size 4;
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say("unreachable")
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nhello!\r\n0\r\n\r\n"
--- error_code: 413

=== TEST 22: ngx.header set, multi-value, clear, and read back
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-One"] = "1"
            ngx.header.x_two = {"a", "b"}
            ngx.header.X_Gone = "x"
            ngx.header.X_Gone = nil
            ngx.header.content_type = "text/x-lua"
            ngx.say(ngx.header.x_one, " ", ngx.header["X-Two"][2], " ", ngx.header.content_type)
        }
    }
--- request
GET /t
--- response_headers
X-One: 1
Content-Type: text/x-lua
!X-Gone
--- response_body
1 b text/x-lua

=== TEST 23: setting ngx.header after output is logged and ignored
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("body")
            ngx.header.X_Late = "late"
        }
    }
--- request
GET /t
--- response_headers
!X-Late
--- error_log
attempt to set ngx.header.HEADER after sending out response headers

=== TEST 24: Content-Length from ngx.header avoids chunking
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.content_length = 6
            ngx.print("hello\n")
        }
    }
--- request
GET /t
--- response_headers
Content-Length: 6
!Transfer-Encoding
--- response_body
hello

=== TEST 25: ngx.ctx is shared between phases
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.seen = "rewrite" }
        access_by_lua_block { ngx.ctx.seen = ngx.ctx.seen .. "+access" }
        content_by_lua_block { ngx.say(ngx.ctx.seen) }
    }
--- request
GET /t
--- response_body
rewrite+access

=== TEST 26: ngx.ctx is per request
--- config
    location = /t {
        content_by_lua_block {
            ngx.ctx.n = (ngx.ctx.n or 0) + 1
            ngx.say(ngx.ctx.n)
        }
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1\n", "1\n"]

=== TEST 27: ngx.ctx can be replaced by a table
--- config
    location = /t {
        content_by_lua_block {
            ngx.ctx = { a = 42 }
            ngx.say(ngx.ctx.a)
        }
    }
--- request
GET /t
--- response_body
42

=== TEST 28: ngx.redirect
--- config
    location = /t {
        content_by_lua_block {
            ngx.redirect("/elsewhere", ngx.HTTP_MOVED_PERMANENTLY)
        }
    }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: /elsewhere

=== TEST 29: ngx.redirect to a full URL defaults to 302
--- config
    location = /t {
        rewrite_by_lua_block { ngx.redirect("https://example.com/x") }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: https://example.com/x

=== TEST 30: ngx.redirect with a bad status
--- config
    location = /t {
        content_by_lua_block { ngx.redirect("/x", 200) }
    }
--- request
GET /t
--- error_code: 500
--- error_log
only ngx.HTTP_MOVED_TEMPORARILY

=== TEST 31: ngx.exec runs another location with new args
--- config
    location = /t {
        content_by_lua_block { ngx.exec("/other", { a = 1 }) }
    }
    location = /other {
        content_by_lua_block { ngx.say("other ", ngx.var.args, " internal=", tostring(ngx.req.is_internal())) }
    }
--- request
GET /t
--- response_body
other a=1 internal=true

=== TEST 32: ngx.exec to a named location
--- config
    location = /t {
        rewrite_by_lua_block { ngx.exec("@named") }
    }
    location @named {
        content_by_lua_block { ngx.say("named ", ngx.var.uri) }
    }
--- request
GET /t
--- response_body
named /t

=== TEST 33: ngx.exec clears ngx.ctx
--- config
    location = /t {
        content_by_lua_block {
            ngx.ctx.x = 1
            ngx.exec("/other")
        }
    }
    location = /other {
        content_by_lua_block { ngx.say("ctx.x = ", ngx.ctx.x) }
    }
--- request
GET /t
--- response_body
ctx.x = nil

=== TEST 34: ngx.exec after output is an error
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("x")
            ngx.exec("/other")
        }
    }
--- request
GET /t
--- ignore_response
--- error_log
attempt to call ngx.exec after sending out response headers

=== TEST 35: ngx.req.is_internal and start_time
--- config
    location = /t {
        content_by_lua_block {
            local st = ngx.req.start_time()
            ngx.say(ngx.req.is_internal(), " ", type(st), " ", st > 1700000000)
        }
    }
--- request
GET /t
--- response_body
false number true
