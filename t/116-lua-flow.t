# Control flow from Lua: exit, exec, redirect, eof, flush, send_headers per phase.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.redirect keeps a relative Location as given
--- config
    location = /t { content_by_lua_block { ngx.redirect("/foo?a=1", 301) } }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: /foo?a=1

=== TEST 2: ngx.redirect with 307 and 308
--- config
    location = /a { content_by_lua_block { ngx.redirect("/x", ngx.HTTP_TEMPORARY_REDIRECT) } }
    location = /b { content_by_lua_block { ngx.redirect("/y", 308) } }
--- request
GET /a
--- error_code: 307
--- response_headers
Location: /x

=== TEST 3: ngx.redirect in rewrite_by_lua skips content
--- config
    location = /t {
        rewrite_by_lua_block { ngx.redirect("/elsewhere") }
        content_by_lua_block { ngx.say("not reached") }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: /elsewhere

=== TEST 4: ngx.exit with 404 sends nginx's error page
--- config
    location = /t { content_by_lua_block { ngx.exit(ngx.HTTP_NOT_FOUND) } }
--- request
GET /t
--- error_code: 404
--- response_body_like: <title>404 Not Found</title>

=== TEST 5: ngx.exit(404) goes through error_page
--- config
    error_page 404 /nf;
    location = /t { content_by_lua_block { ngx.exit(404) } }
    location = /nf { content_by_lua_block { ngx.say("custom ", ngx.status) } }
--- request
GET /t
--- error_code: 404
--- response_body
custom 404

=== TEST 6: ngx.exit(403) in rewrite_by_lua
--- config
    location = /t {
        rewrite_by_lua_block { ngx.exit(ngx.HTTP_FORBIDDEN) }
        content_by_lua_block { ngx.say("not reached") }
    }
--- request
GET /t
--- error_code: 403

=== TEST 7: ngx.exit(ngx.OK) in rewrite goes on to access and content
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.r = 1; ngx.exit(ngx.OK); ngx.ctx.r = 2 }
        access_by_lua_block { ngx.ctx.a = 1 }
        content_by_lua_block { ngx.say(ngx.ctx.r, ngx.ctx.a) }
    }
--- request
GET /t
--- response_body
11

=== TEST 8: ngx.exec with a query string in the uri
--- config
    location = /t { content_by_lua_block { ngx.exec("/target?a=1&b=2") } }
    location = /target { content_by_lua_block { ngx.say(ngx.var.args, " ", ngx.req.is_internal()) } }
--- request
GET /t
--- response_body
a=1&b=2 true

=== TEST 9: ngx.exec with a table of args
--- config
    location = /t { content_by_lua_block { ngx.exec("/target", {q = "x y"}) } }
    location = /target { content_by_lua_block { ngx.say(ngx.var.arg_q) } }
--- request
GET /t
--- response_body
x%20y

=== TEST 10: ngx.exec from rewrite_by_lua
--- config
    location = /t {
        rewrite_by_lua_block { ngx.exec("/target") }
        content_by_lua_block { ngx.say("not reached") }
    }
    location = /target { content_by_lua_block { ngx.say("target ", ngx.var.uri) } }
--- request
GET /t
--- response_body
target /target

=== TEST 11: ngx.exec to a missing location is a 404
--- config
    location = /t { content_by_lua_block { ngx.exec("/nowhere") } }
--- request
GET /t
--- error_code: 404

=== TEST 12: ngx.status with ngx.say sends that status
--- config
    location = /t { content_by_lua_block { ngx.status = 418; ngx.say("teapot") } }
--- request
GET /t
--- error_code: 418
--- response_body
teapot

=== TEST 13: code after ngx.eof still runs and can log
--- config
    location = /t { content_by_lua_block {
        ngx.say("done")
        ngx.eof()
        ngx.log(ngx.WARN, "after eof")
    } }
--- request
GET /t
--- response_body
done
--- error_log
after eof

=== TEST 14: ngx.flush returns 1 and sends the headers
--- config
    location = /t { content_by_lua_block {
        ngx.print("a")
        local r = ngx.flush(true)
        ngx.say(r, " ", ngx.headers_sent)
    } }
--- request
GET /t
--- response_body
a1 true

=== TEST 15: ngx.send_headers then headers_sent
--- config
    location = /t { content_by_lua_block {
        ngx.header["X-Early"] = "1"
        ngx.say(ngx.headers_sent)
        ngx.send_headers()
        ngx.say(ngx.headers_sent)
    } }
--- request
GET /t
--- response_body
false
true
--- response_headers
X-Early: 1

=== TEST 16: ngx.say with nested tables
--- config
    location = /t { content_by_lua_block {
        ngx.say({"a", {"b", {"c", 1}}, true})
    } }
--- request
GET /t
--- response_body
abc1true

=== TEST 17: ngx.say with a table holding a hole is refused
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(ngx.say, {"a", nil, "c"})
        ngx.say(ok)
    } }
--- request
GET /t
--- response_body
false

=== TEST 18: access_by_lua sees the rewrite's work
--- config
    location = /t {
        set $who "";
        rewrite_by_lua_block { ngx.var.who = "rewrite" }
        access_by_lua_block { if ngx.var.who ~= "rewrite" then ngx.exit(500) end }
        content_by_lua_block { ngx.say(ngx.var.who) }
    }
--- request
GET /t
--- response_body
rewrite

=== TEST 19: return in a location after a Lua rewrite
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_header("X-R", "1") }
        return 200 "ret $http_x_r\n";
    }
--- request
GET /t
--- response_body
ret 

=== TEST 20: ngx.exit inside a pcall still ends the request
--- config
    location = /t { content_by_lua_block {
        pcall(ngx.exit, 202)
        ngx.say("not reached")
    } }
--- request
GET /t
--- error_code: 202
--- response_body

=== TEST 21: ngx.req.set_uri and ngx.exec refuse unsafe uris
--- config
    location = /t { content_by_lua_block {
        local _, err1 = pcall(ngx.req.set_uri, "/a\r\nb")
        local _, err2 = pcall(ngx.exec, "/x\0y")
        ngx.say(err1)
        ngx.say(err2)
    } }
--- request
GET /t
--- response_body
attempt to use unsafe uri
unsafe uri
--- error_log
unsafe byte "0xd" in uri "/a\x0D\x0Ab"

=== TEST 22: ngx.exec refuses a uri climbing above the root
--- config
    location = /t { content_by_lua_block { ngx.exec("/a/../../etc/passwd") } }
--- request
GET /t
--- error_code: 500
--- error_log
unsafe uri

=== TEST 23: ngx.exec takes one or two arguments
--- config
    location = /t { content_by_lua_block { ngx.exec("/x", "a=1", "extra") } }
    location = /x { return 200 "reached\n"; }
--- request
GET /t
--- error_code: 500
--- error_log
expecting one or two arguments, but got 3

=== TEST 24: ngx.exec to a named location keeps the request's arguments, drops the given ones
--- config
    location = /t { content_by_lua_block { ngx.exec("@named?from=uri", { from = "table" }) } }
    location @named { content_by_lua_block { ngx.say("args: ", ngx.var.args) } }
--- request
GET /t?orig=1
--- response_body
args: orig=1
--- error_log
query strings from=uri&from=table ignored when exec'ing named location @named

=== TEST 25: ngx.exit with the status already sent ends the response quietly
--- config
    location = /t {
        rewrite_by_lua_block {
            ngx.status = 410
            ngx.send_headers()
            ngx.say("gone for good")
            ngx.exit(410)
        }
    }
--- request
GET /t
--- error_code: 410
--- response_body
gone for good
--- no_error_log
[error]

=== TEST 26: ngx.exit with the status already sent, HTTP/1.0 (output held for its length)
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = 410
            ngx.say("gone")
            ngx.exit(410)
        }
    }
--- request
GET /t HTTP/1.0
--- error_code: 410
--- response_body
gone
--- no_error_log
[error]
