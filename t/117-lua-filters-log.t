# Header and body filters and the log phase, beyond the basics.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a body filter buffers the whole body and rewrites it at eof
--- config
    location = /t {
        content_by_lua_block { ngx.say("hello"); ngx.flush(true); ngx.say("world") }
        body_filter_by_lua_block {
            local chunk, eof = ngx.arg[1], ngx.arg[2]
            ngx.ctx.buf = (ngx.ctx.buf or "") .. chunk
            if eof then
                ngx.arg[1] = string.upper(ngx.ctx.buf)
            else
                ngx.arg[1] = nil
            end
        }
    }
--- request
GET /t
--- response_body
HELLO
WORLD

=== TEST 2: a body filter over a return directive
--- config
    location = /t {
        return 200 "abc";
        body_filter_by_lua_block { ngx.arg[1] = ngx.arg[1]:reverse() }
        header_filter_by_lua_block { ngx.header.content_length = nil }
    }
--- request
GET /t
--- response_body chop
cba

=== TEST 3: a header filter sees a redirect's Location and status
--- config
    location = /t {
        return 302 /else;
        header_filter_by_lua_block { ngx.header["X-Was"] = ngx.status .. " " .. ngx.header.location:match("/else$") }
    }
--- request
GET /t
--- error_code: 302
--- response_headers
X-Was: 302 /else

=== TEST 4: ngx.say is not allowed in a header filter, the response is dropped
--- config
    location = /t {
        content_by_lua_block { ngx.say("body") }
        header_filter_by_lua_block { ngx.say("no") }
    }
--- request
GET /t
--- ignore_response
--- error_log
API disabled in the context of header_filter_by_lua*

=== TEST 5: ngx.say is not allowed in the log phase
--- config
    location = /t {
        content_by_lua_block { ngx.say("body") }
        log_by_lua_block { ngx.say("no") }
    }
--- request
GET /t
--- response_body
body
--- error_log
API disabled in the context of log_by_lua*

=== TEST 6: the log phase sees status, bytes sent and ctx
--- config
    location = /t {
        content_by_lua_block { ngx.ctx.user = "u1"; ngx.status = 201; ngx.say("created") }
        log_by_lua_block {
            ngx.log(ngx.WARN, "status=", ngx.var.status, " user=", ngx.ctx.user,
                    " sent>0=", tonumber(ngx.var.bytes_sent) > 0, " rt>=0=", tonumber(ngx.var.request_time) >= 0)
        }
    }
--- request
GET /t
--- error_code: 201
--- error_log
status=201 user=u1 sent>0=true rt>=0=true

=== TEST 7: an error in the log phase is logged, the response is already out
--- config
    location = /t {
        content_by_lua_block { ngx.say("fine") }
        log_by_lua_block { error("log oops") }
    }
--- request
GET /t
--- response_body
fine
--- error_log
log oops

=== TEST 8: an error in a body filter drops the response
--- config
    location = /t {
        content_by_lua_block { ngx.say("a") }
        body_filter_by_lua_block { error("bf oops") }
    }
--- request
GET /t
--- ignore_response
--- error_log
bf oops

=== TEST 9: a header filter removes a header set by add_header
--- config
    location = /t {
        add_header X-Drop yes;
        add_header X-Keep yes;
        return 200 "ok\n";
        header_filter_by_lua_block { ngx.header["X-Drop"] = nil }
    }
--- request
GET /t
--- response_headers
!X-Drop
X-Keep: yes

=== TEST 10: ngx.arg outside filters and set_by_lua is an error
--- config
    location = /t { content_by_lua_block { local ok = pcall(function() return ngx.arg[1] end) ngx.say(ok) } }
--- request
GET /t
--- response_body_like: ^(true|false)$

=== TEST 11: a body filter sees eof once
--- config
    location = /t {
        content_by_lua_block { ngx.print("x"); ngx.flush(true); ngx.print("y") }
        body_filter_by_lua_block {
            if ngx.arg[2] then ngx.ctx.eofs = (ngx.ctx.eofs or 0) + 1 end
        }
        log_by_lua_block { ngx.log(ngx.WARN, "eofs: ", ngx.ctx.eofs) }
    }
--- request
GET /t
--- response_body chop
xy
--- error_log
eofs: 1

=== TEST 12: a header filter changes the content type of a static file
--- user_files
>>> page.txt
text
--- config
    location = /page.txt {
        header_filter_by_lua_block { ngx.header.content_type = "text/x-custom" }
    }
--- request
GET /page.txt
--- response_headers
Content-Type: text/x-custom
--- response_body
text

=== TEST 13: ngx.flush in the log phase is refused
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        log_by_lua_block { ngx.flush() }
    }
--- request
GET /t
--- response_body
ok
--- error_log
API disabled in the context of log_by_lua*

=== TEST 14: ngx.print in set_by_lua is refused
--- config
    location = /t {
        set_by_lua_block $x { ngx.print("no") return "1" }
        return 200 "x=$x\n";
    }
--- request
GET /t
--- error_code: 500
--- error_log
API disabled in the context of set_by_lua*

=== TEST 15: ngx.exec in a body filter is refused
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        body_filter_by_lua_block { ngx.exec("/x") }
    }
--- request
GET /t
--- ignore_response
--- error_log
API disabled in the context of body_filter_by_lua*

=== TEST 16: ngx.exit(status) in a header filter answers with that status's page instead
--- config
    location = /t {
        content_by_lua_block { ngx.say("the original body") }
        header_filter_by_lua_block {
            if ngx.status == 200 then return ngx.exit(403) end
        }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: <title>403 Forbidden</title>
--- no_error_log
[error]

=== TEST 17: ... through error_page, whose location's filter may answer once more
--- config
    error_page 599 = /second;
    location = /t {
        content_by_lua_block { ngx.say("first") }
        header_filter_by_lua_block { return ngx.exit(599) }
    }
    location = /second {
        content_by_lua_block { ngx.say("second") }
        header_filter_by_lua_block { return ngx.exit(303) }
    }
--- request
GET /t
--- error_code: 303
--- response_body_like: <title>303 See Other</title>

=== TEST 18: a static file answered the same way
--- config
    location = /index.html { header_filter_by_lua_block { ngx.exit(410) } }
--- user_files
>>> index.html
static
--- request
GET /index.html
--- error_code: 410
--- response_body_like: 410 Gone

=== TEST 18b: a return answered the same way
--- config
    location = /r {
        return 200 "returned\n";
        header_filter_by_lua_block { ngx.exit(451) }
    }
--- request
GET /r
--- error_code: 451

=== TEST 19: an error value that is not a string: "unknown reason"; the filter's frames follow
--- config
    location = /nil {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block { error(nil) }
    }
--- request
GET /nil
--- ignore_response
--- error_log
failed to run header_filter_by_lua*: unknown reason

=== TEST 20: a header filter's error carries the traceback of its own functions
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block {
            local check
            local function run() check() end
            function check() error("bad header state") end
            run()
        }
    }
--- request
GET /t
--- ignore_response
--- error_log eval
[qr/failed to run header_filter_by_lua\*: header_filter_by_lua\(nginx.conf:\d+\):4: bad header state$/,
qr/^stack traceback:$/,
qr/^\t\[C\]: in function 'error'$/,
qr/^\theader_filter_by_lua\(nginx.conf:\d+\):4: in function 'check'$/,
qr/^\theader_filter_by_lua\(nginx.conf:\d+\):3: in function 'run'$/,
qr/^\theader_filter_by_lua\(nginx.conf:\d+\):5: in function <header_filter_by_lua\(nginx.conf:\d+\):1>, client/]

=== TEST 21: lines logged in the log phase say so, as nginx's ("while logging request")
--- config
    location = /t {
        return 200 "ok\n";
        log_by_lua_block { ngx.log(ngx.WARN, "from the log phase") }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[lua\] log_by_lua\(nginx\.conf:\d+\):1: from the log phase while logging request, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", host: "localhost"/
