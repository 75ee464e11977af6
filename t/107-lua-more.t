# set_by_lua, request setters, ngx.resp.get_headers, encode/decode args.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: set_by_lua with arguments
--- config
    location = /t {
        set $a 32;
        set $b 56;
        set_by_lua $sum 'return tonumber(ngx.arg[1]) + tonumber(ngx.arg[2])' $a $b;
        return 200 "sum=$sum\n";
    }
--- request
GET /t
--- response_body
sum=88

=== TEST 2: set_by_lua_block runs in order with set
--- config
    location = /t {
        set $x "one";
        set_by_lua_block $y { return ngx.var.x .. "+two" }
        set $z "$y+three";
        content_by_lua_block { ngx.say(ngx.var.z) }
    }
--- request
GET /t
--- response_body
one+two+three

=== TEST 3: set_by_lua_file
--- config
    location = /t {
        set_by_lua_file $v html/set.lua "arg";
        return 200 "$v\n";
    }
--- user_files
>>> set.lua
return "from file with " .. ngx.arg[1]
--- request
GET /t
--- response_body
from file with arg

=== TEST 4: an error in set_by_lua is a 500
--- config
    location = /t {
        set_by_lua_block $v { error("set failed") }
        return 200 "$v\n";
    }
--- request
GET /t
--- error_code: 500
--- error_log
failed to run set_by_lua*:

=== TEST 5: set_by_lua returning nil leaves the variable empty
--- config
    location = /t {
        set_by_lua_block $v { return nil }
        return 200 "[$v]\n";
    }
--- request
GET /t
--- response_body
[]

=== TEST 6: ngx.req.set_method
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_method(ngx.HTTP_PUT) }
        content_by_lua_block { ngx.say(ngx.req.get_method(), " ", ngx.var.request_method) }
    }
--- request
GET /t
--- response_body
PUT PUT

=== TEST 7: ngx.req.set_uri without a jump
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_uri("/changed")
            ngx.say(ngx.var.uri)
        }
    }
--- request
GET /t
--- response_body
/changed

=== TEST 8: ngx.req.set_uri with a jump looks the location up again
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.req.set_uri("/other", true)
            ngx.log(ngx.ERR, "not reached")
        }
    }
    location = /other {
        content_by_lua_block { ngx.say("other ", ngx.var.uri) }
    }
--- request
GET /t
--- response_body
other /other
--- no_error_log
not reached

=== TEST 9: ngx.req.set_uri with a jump outside rewrite is an error
--- config
    location = /t {
        content_by_lua_block { ngx.req.set_uri("/x", true) }
    }
--- request
GET /t
--- error_code: 500
--- error_log
API disabled in the context of content_by_lua*

=== TEST 10: ngx.req.set_uri_args with a table and a string
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.set_uri_args({ b = 2, a = "x y" })
            ngx.say(ngx.var.args)
            ngx.req.set_uri_args("z=1")
            ngx.say(ngx.var.args, " ", ngx.var.arg_z)
        }
    }
--- request
GET /t?old=1
--- response_body
a=x%20y&b=2
z=1 1

=== TEST 11: ngx.req.raw_header
--- config
    location = /t {
        content_by_lua_block {
            ngx.print(ngx.req.raw_header())
            ngx.print(ngx.req.raw_header(true))
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\n"
--- response_body eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\nHost: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\n"

=== TEST 12: ngx.req.discard_body keeps the connection usable
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.discard_body()
            ngx.say("discarded")
        }
    }
--- pipelined_requests eval
["POST /t\nhello", "GET /t"]
--- response_body eval
["discarded\n", "discarded\n"]

=== TEST 13: ngx.req.set_body_data
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.req.set_body_data("replaced")
            ngx.say(ngx.req.get_body_data(), " ", ngx.var.http_content_length)
        }
    }
--- request
POST /t
original
--- response_body
replaced 8

=== TEST 14: ngx.resp.get_headers
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["X-A"] = "1"
            ngx.header.content_type = "text/x-a"
            local h = ngx.resp.get_headers()
            ngx.say(h["x-a"], " ", h["content-type"])
        }
    }
--- request
GET /t
--- response_body
1 text/x-a

=== TEST 15: ngx.encode_args and ngx.decode_args
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_args({ a = 1, b = { "x", "y" }, c = true, d = false, ["e f"] = "g h" }))
            local t = ngx.decode_args("a=1&b=x&b=y&c")
            ngx.say(t.a, " ", t.b[2], " ", t.c)
        }
    }
--- request
GET /t
--- response_body
a=1&b=x&b=y&c&e%20f=g%20h
1 y true

=== TEST 16: init_body, append_body, finish_body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.req.init_body()
            ngx.req.append_body("new ")
            ngx.req.append_body("body")
            ngx.req.finish_body()
            ngx.say(ngx.req.get_body_data(), " ", ngx.var.http_content_length)
        }
    }
--- request
POST /t
old
--- response_body
new body 8

=== TEST 17: append_body before init_body is an error
--- config
    location = /t {
        content_by_lua_block { ngx.req.append_body("x") }
    }
--- request
GET /t
--- error_code: 500
--- error_log
request_body not initialized

=== TEST 18: set_body_file
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local path = ngx.config.prefix() .. "html/body.txt"
            ngx.req.set_body_file(path)
            ngx.say(ngx.req.get_body_file() == path, " ", ngx.var.http_content_length)
        }
    }
--- user_files
>>> body.txt
file body
--- request
POST /t
x
--- response_body
true 10

=== TEST 19: set_body_file of a missing file
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.req.set_body_file("/no/such/file")
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
cannot open file /no/such/file

=== TEST 9b: the same refusal names access_by_lua* and set_by_lua*; without a jump it works there
--- config
    location = /t {
        set_by_lua_block $in_set {
            local ok, err = pcall(ngx.req.set_uri, "/x", true)
            return err
        }
        access_by_lua_block {
            local ok, err = pcall(ngx.req.set_uri, "/x", true)
            ngx.ctx.access = err
            ngx.req.set_uri("/moved")
        }
        content_by_lua_block { ngx.say(ngx.var.in_set, " | ", ngx.ctx.access, " | ", ngx.var.uri) }
    }
--- request
GET /t
--- response_body
API disabled in the context of set_by_lua* | API disabled in the context of access_by_lua* | /moved

=== TEST 26: ngx.req.discard_body returns at once; the body is not read for the handler after it
--- config
    lingering_timeout 200ms;
    location = /t {
        content_by_lua_block {
            ngx.req.discard_body()
            ngx.req.read_body()
            ngx.say("data: ", ngx.req.get_body_data())
        }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhel"
--- response_body
data: nil
