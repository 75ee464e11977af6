# server_rewrite_by_lua*: Lua in the server-rewrite phase, before the location is chosen.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: at http level, for every server; ngx.ctx goes on to the content handler
--- http_config
    server_rewrite_by_lua_block {
        ngx.ctx.seen = "set in " .. ngx.get_phase()
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say(ngx.ctx.seen) }
    }
--- request
GET /t
--- response_body
set in server_rewrite
--- no_error_log
[error]

=== TEST 2: a server's own replaces the http level's
--- http_config
    server_rewrite_by_lua_block { ngx.log(ngx.WARN, "from http level") }
--- config
    server_rewrite_by_lua_block { ngx.log(ngx.WARN, "from server level") }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log
from server level
--- no_error_log
from http level

=== TEST 3: it runs before the server's rewrite, which then picks the location
--- config
    server_rewrite_by_lua_block { ngx.log(ngx.WARN, "uri seen: ", ngx.var.uri) }
    rewrite ^ /re;
    location = /re { return 200 "re\n"; }
--- request
GET /first
--- response_body
re
--- error_log
uri seen: /first

=== TEST 4: ngx.redirect answers before any location
--- config
    server_rewrite_by_lua_block { return ngx.redirect("/elsewhere") }
    location = /t { return 200 "unreachable\n"; }
--- request
GET /t
--- error_code: 302
--- raw_response_headers_like: Location: /elsewhere\r\n

=== TEST 5: output ends the request there
--- config
    server_rewrite_by_lua_block {
        ngx.say("from the server rewrite")
        ngx.flush(true)
    }
    location = /t { content_by_lua_block { ngx.say("unreachable") } }
--- request
GET /t
--- response_body
from the server rewrite

=== TEST 6: ngx.exit(ngx.OK) goes on; ngx.exit(503) answers
--- config
    server_rewrite_by_lua_block {
        if ngx.var.arg_stop then ngx.exit(503) end
        ngx.exit(ngx.OK)
    }
    location = /t { return 200 "went on\n"; }
--- pipelined_requests eval
["GET /t", "GET /t?stop=1"]
--- error_code eval
[200, 503]
--- response_body_like eval
["^went on\n\$", "503 Service Temporarily Unavailable"]

=== TEST 7: ngx.exec from there: the new URI picks the location
--- config
    server_rewrite_by_lua_block {
        if ngx.var.uri ~= "/ok" then return ngx.exec("/ok") end
        ngx.log(ngx.WARN, "second pass at ", ngx.var.uri)
    }
    location = /ok { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log
second pass at /ok

=== TEST 8: the location's rewrite_by_lua runs after it
--- config
    server_rewrite_by_lua_block { ngx.ctx.order = "server" }
    location = /t {
        rewrite_by_lua_block { ngx.ctx.order = ngx.ctx.order .. ", location" }
        content_by_lua_block { ngx.say(ngx.ctx.order) }
    }
--- request
GET /t
--- response_body
server, location

=== TEST 9: server_rewrite_by_lua_file, relative to the prefix
--- http_config
    server_rewrite_by_lua_file html/sr.lua;
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.ctx.from_file) } }
--- user_files
>>> sr.lua
ngx.ctx.from_file = "from the file"
--- request
GET /t
--- response_body
from the file

=== TEST 10: not in a location
--- config
    location = /t {
        server_rewrite_by_lua_block { ngx.say("no") }
    }
--- must_die
--- error_log
"server_rewrite_by_lua_block" directive is not allowed here

=== TEST 11: output from rewrite_by_lua ends the request there, as from access_by_lua
--- config
    location = /r {
        rewrite_by_lua_block { ngx.say("from rewrite") }
        content_by_lua_block { ngx.say("unreachable") }
    }
    location = /a {
        access_by_lua_block { ngx.say("from access") }
        content_by_lua_block { ngx.say("unreachable") }
    }
--- pipelined_requests eval
["GET /r", "GET /a"]
--- response_body eval
["from rewrite\n", "from access\n"]
