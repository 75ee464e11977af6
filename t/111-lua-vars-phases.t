# Variables from Lua across phases, number formatting, more phase interplay.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: request variables from Lua
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.var.request_uri, "|", ngx.var.scheme, "|", ngx.var.server_protocol, "|", ngx.var.is_args)
        }
    }
--- request
GET /t?x=1
--- response_body
/t?x=1|http|HTTP/1.1|?

=== TEST 2: body-related variables
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.var.content_length, "|", ngx.var.content_type, "|", ngx.var.request_body)
        }
    }
--- request
POST /t
a=1
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body
3|application/x-www-form-urlencoded|a=1

=== TEST 3: missing header, arg and cookie variables are nil
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(tostring(ngx.var.http_x_none), " ", tostring(ngx.var.arg_none), " ", tostring(ngx.var.cookie_none))
        }
    }
--- request
GET /t
--- response_body
nil nil nil

=== TEST 4: cookies through ngx.var
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.cookie_session, " ", ngx.var.http_cookie) }
    }
--- request
GET /t
--- more_headers
Cookie: a=1; session=abc
--- response_body
abc a=1; session=abc

=== TEST 5: status and sizes in log_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.say("12345") }
        log_by_lua_block {
            ngx.log(ngx.WARN, "log: ", ngx.var.status, " ", ngx.var.body_bytes_sent, " ", ngx.status)
        }
    }
--- request
GET /t
--- error_log
log: 200 6 200

=== TEST 6: ngx.ctx reaches log_by_lua
--- config
    location = /t {
        content_by_lua_block { ngx.ctx.who = "content"; ngx.say("ok") }
        log_by_lua_block { ngx.log(ngx.WARN, "ctx from ", ngx.ctx.who) }
    }
--- request
GET /t
--- error_log
ctx from content

=== TEST 7: ngx.ctx reaches header and body filters (the body filter also sees the empty last chunk)
--- config
    location = /t {
        access_by_lua_block { ngx.ctx.tag = "T" }
        header_filter_by_lua_block { ngx.header["X-Tag"] = ngx.ctx.tag }
        body_filter_by_lua_block { ngx.arg[1] = ngx.ctx.tag .. ngx.arg[1] }
        content_by_lua_block { ngx.print("x") }
    }
--- request
GET /t
--- response_headers
X-Tag: T
--- response_body chomp
TxT

=== TEST 8: number formatting as Lua prints numbers
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(1, " ", 1.5, " ", 0.1, " ", 1e20, " ", -0.0 == 0, " ", 2^53, " ", 10 / 2)
        }
    }
--- request
GET /t
--- response_body
1 1.5 0.1 1e+20 true 9.007199254741e+15 5

=== TEST 9: ngx.say with booleans and nil among strings
--- config
    location = /t {
        content_by_lua_block { ngx.say("a", true, nil, false, "b") }
    }
--- request
GET /t
--- response_body
atruenilfalseb

=== TEST 10: ngx.exit(ngx.HTTP_OK) in access ends the request with what was said
--- config
    location = /t {
        access_by_lua_block {
            ngx.say("from access")
            ngx.exit(ngx.HTTP_OK)
        }
        content_by_lua_block { ngx.say("not reached") }
    }
--- request
GET /t
--- response_body
from access

=== TEST 11: ngx.exec from access
--- config
    location = /t {
        access_by_lua_block { ngx.exec("/target") }
    }
    location = /target {
        content_by_lua_block { ngx.say("target ", ngx.var.uri) }
    }
--- request
GET /t
--- response_body
target /target

=== TEST 12: a header filter can turn the status into an error
--- config
    location = /t {
        header_filter_by_lua_block { ngx.status = 404 }
        content_by_lua_block { ngx.say("body stays") }
    }
--- request
GET /t
--- error_code: 404
--- response_body
body stays

=== TEST 13: rewrite_by_lua sees set variables, content sees its changes
--- config
    location = /t {
        set $v "from set";
        rewrite_by_lua_block { ngx.var.v = ngx.var.v .. " and lua" }
        content_by_lua_block { ngx.say(ngx.var.v) }
    }
--- request
GET /t
--- response_body
from set and lua

=== TEST 14: HEAD requests get headers only from Lua content
--- config
    location = /t {
        content_by_lua_block { ngx.say("body") }
    }
--- request
HEAD /t
--- response_body

=== TEST 15: ngx.req.get_method on HEAD
--- config
    location = /t {
        content_by_lua_block { ngx.header["X-Method"] = ngx.req.get_method() }
    }
--- request
HEAD /t
--- response_headers
X-Method: HEAD

=== TEST 16: get_uri_args with empty pieces and bare =
--- config
    location = /t {
        content_by_lua_block {
            local a = ngx.req.get_uri_args()
            local keys = {}
            for k, v in pairs(a) do keys[#keys + 1] = k .. "=" .. tostring(v) end
            table.sort(keys)
            ngx.say(table.concat(keys, ","))
        }
    }
--- request
GET /t?&a=&&b=2&=x
--- response_body
a=,b=2

=== TEST 17: internal redirect by error_page into Lua
--- config
    error_page 404 /lua404;
    location = /lua404 {
        content_by_lua_block { ngx.say("lua 404 page for ", ngx.var.request_uri, " internal=", tostring(ngx.req.is_internal())) }
    }
--- request
GET /nothing
--- error_code: 404
--- response_body
lua 404 page for /nothing internal=true

=== TEST 18: Lua content with a return-based error_page
--- config
    error_page 500 = /fallback;
    location = /t { content_by_lua_block { error("boom") } }
    location = /fallback { return 200 "fallback\n"; }
--- request
GET /t
--- response_body
fallback

=== TEST 19: ngx.print of a big table of pieces
--- config
    location = /t {
        content_by_lua_block {
            local t = {}
            for i = 1, 1000 do t[i] = tostring(i % 10) end
            ngx.print(t)
        }
    }
--- request
GET /t
--- response_body eval
"1234567890" x 99 . "123456789" . "0"

=== TEST 20: add_header together with Lua headers
--- config
    location = /t {
        add_header X-Static s;
        content_by_lua_block { ngx.header["X-Lua"] = "l"; ngx.say("ok") }
    }
--- request
GET /t
--- response_headers
X-Static: s
X-Lua: l

=== TEST 21: numbers among strings format as Lua prints them (fast path)
--- config
    location = /t {
        content_by_lua_block { ngx.say(1, " ", 0.1, " ", 1e20, " ", 2^53, " ", -3) }
    }
--- request
GET /t
--- response_body
1 0.1 1e+20 9.007199254741e+15 -3
