# More of ngx.req and ngx.ctx: methods, versions, raw headers, internal requests.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.req.set_method with every method constant
--- config
    location = /t { content_by_lua_block {
        local out = {}
        for _, m in ipairs({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE",
                            "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE"}) do
            ngx.req.set_method(ngx["HTTP_" .. m])
            out[#out + 1] = ngx.req.get_method()
        end
        ngx.say(table.concat(out, " "))
    } }
--- request
GET /t
--- response_body
GET HEAD PUT POST DELETE OPTIONS MKCOL COPY MOVE PROPFIND PROPPATCH LOCK UNLOCK PATCH TRACE

=== TEST 2: set_method changes $request_method
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_method(ngx.HTTP_PUT) }
        content_by_lua_block { ngx.say(ngx.var.request_method) }
    }
--- request
GET /t
--- response_body
PUT

=== TEST 3: http_version of an HTTP/1.0 request
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.req.http_version()) } }
--- request
GET /t HTTP/1.0
--- response_body
1

=== TEST 4: raw_header without the request line
--- config
    location = /t { content_by_lua_block { ngx.print(ngx.req.raw_header(true)) } }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\n"
--- response_body eval
"Host: localhost\r\nX-A: 1\r\nConnection: close\r\n\r\n"

=== TEST 5: is_internal after an error_page redirect
--- config
    error_page 404 = /handler;
    location = /handler { content_by_lua_block { ngx.say("internal: ", ngx.req.is_internal()) } }
--- request
GET /missing
--- response_body
internal: true

=== TEST 6: ngx.ctx survives rewrite to content but not an error_page redirect
--- config
    error_page 418 = /teapot;
    location = /t {
        rewrite_by_lua_block { ngx.ctx.mark = "set" }
        content_by_lua_block { ngx.exit(418) }
    }
    location = /teapot { content_by_lua_block { ngx.say("mark: ", tostring(ngx.ctx.mark)) } }
--- request
GET /t
--- response_body
mark: nil

=== TEST 7: ngx.ctx holds any Lua value
--- config
    location = /t { content_by_lua_block {
        ngx.ctx.f = function() return "fn" end
        ngx.ctx[1] = "one"
        ngx.ctx.t = { n = 1 }
        ngx.say(ngx.ctx.f(), " ", ngx.ctx[1], " ", ngx.ctx.t.n)
    } }
--- request
GET /t
--- response_body
fn one 1

=== TEST 8: ngx.ctx in the log phase after an exec keeps the new ctx
--- config
    location = /t { content_by_lua_block { ngx.ctx.before = true; ngx.exec("/after") } }
    location = /after {
        content_by_lua_block { ngx.ctx.after = true; ngx.say("after") }
        log_by_lua_block { ngx.log(ngx.WARN, "ctx: ", tostring(ngx.ctx.before), " ", tostring(ngx.ctx.after)) }
    }
--- request
GET /t
--- response_body
after
--- error_log
ctx: nil true

=== TEST 9: $request_time and $msec grow with ngx.sleep
--- config
    location = /t { content_by_lua_block {
        local t0 = tonumber(ngx.var.msec)
        ngx.sleep(0.05)
        ngx.update_time()
        local t1 = tonumber(ngx.var.msec)
        ngx.say(t1 - t0 >= 0.04, " ", tonumber(ngx.var.request_time) >= 0.04)
    } }
--- request
GET /t
--- response_body
true true

=== TEST 10: ngx.time and ngx.now agree
--- config
    location = /t { content_by_lua_block {
        ngx.say(math.floor(ngx.now()) == ngx.time())
    } }
--- request
GET /t
--- response_body
true

=== TEST 11: ngx.time, ngx.localtime and ngx.now agree across the turn of a second
--- config
    location = /t { content_by_lua_block {
        -- spin until the second turns: ngx.now read first, so a ngx.time or localtime
        -- on a clock behind it shows a second less (update_time: nginx's clock is cached)
        local start, bad = ngx.time(), 0
        repeat
            ngx.update_time()
            local n = ngx.now()
            local t, lt = ngx.time(), ngx.localtime()
            if math.floor(n) > t or os.date("%Y-%m-%d %H:%M:%S", math.floor(n)) > lt then
                bad = bad + 1
            end
        until t > start
        ngx.say("behind: ", bad)
    } }
--- request
GET /t
--- response_body
behind: 0
--- timeout: 5

=== TEST 12: ngx.req.get_uri_args after set_uri with args
--- config
    location = /t {
        rewrite_by_lua_block { ngx.req.set_uri_args("x=1&y=2") ngx.req.set_uri("/u", false) }
        content_by_lua_block {
            local a = ngx.req.get_uri_args()
            ngx.say(ngx.var.uri, " ", a.x, a.y)
        }
    }
--- request
GET /t?z=0
--- response_body
/u 12

=== TEST 13: ngx.req.get_headers gives every header under the default limit
--- config
    location = /t { content_by_lua_block {
        local h, err = ngx.req.get_headers()
        local n = 0
        for _ in pairs(h) do n = n + 1 end
        ngx.say(n, " ", tostring(err))
    } }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX-H1: 1\r\nX-H2: 2\r\nX-H3: 3\r\nX-H4: 4\r\nX-H5: 5\r\nConnection: close\r\n\r\n"
--- response_body
7 nil

=== TEST 14: $http_host and ngx.var.host
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.var.http_host, " ", ngx.var.host) } }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close\r\n\r\n"
--- response_body
Example.COM:8080 example.com

=== TEST 15: $remote_addr, $server_port and $scheme from Lua
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.var.remote_addr, " ", ngx.var.scheme, " ", tonumber(ngx.var.server_port) > 0,
                " ", tonumber(ngx.var.remote_port) > 0)
    } }
--- request
GET /t
--- response_body
127.0.0.1 http true true

=== TEST 16: $binary_remote_addr is four bytes
--- config
    location = /t { content_by_lua_block { ngx.say(#ngx.var.binary_remote_addr) } }
--- request
GET /t
--- response_body
4

=== TEST 17: $request_id is 32 hex digits and stable within the request
--- config
    location = /t { content_by_lua_block {
        ngx.ctx.id = ngx.var.request_id
        ngx.say(#ngx.var.request_id, " ", ngx.var.request_id:match("^%x+$") ~= nil, " ", ngx.var.request_id == ngx.ctx.id)
    } }
--- request
GET /t
--- response_body
32 true true

=== TEST 18: $connection_requests counts keepalive requests
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.var.connection_requests) } }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n"]

=== TEST 19: $content_type and $content_length of the request
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.var.content_type, " ", ngx.var.content_length) } }
--- request
POST /t
hello
--- more_headers
Content-Type: text/x-test
--- response_body
text/x-test 5

=== TEST 20: $sent_http_ variables in the log phase
--- config
    location = /t {
        content_by_lua_block { ngx.header["X-Out"] = "sent"; ngx.say("ok") }
        log_by_lua_block { ngx.log(ngx.WARN, "out=", ngx.var.sent_http_x_out) }
    }
--- request
GET /t
--- error_log
out=sent

=== TEST 21: $document_root is the prefix's html directory by default
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.var.document_root:match("/html$") ~= nil) } }
--- request
GET /t
--- response_body
true

=== TEST 22: $request_id differs between requests
--- config
    location = /t { content_by_lua_block {
        local id = ngx.var.request_id
        ngx.say(last_request_id and tostring(last_request_id ~= id) or "first")
        last_request_id = id
    } }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["first\n", "true\n"]

=== TEST 23: client_body_in_file_only on: the body is in a file, kept after the request
--- config
    client_body_in_file_only on;
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            package.loaded.kept_body = ngx.req.get_body_file()
            ngx.say(ngx.req.get_body_data(), " ", ngx.req.get_body_file() ~= nil)
        }
    }
    location = /check {
        content_by_lua_block {
            local f = io.open(package.loaded.kept_body)
            ngx.say(f and f:read("*a") or "gone")
            if f then f:close() os.remove(package.loaded.kept_body) end
        }
    }
--- pipelined_requests eval
["POST /t\nsmall body", "GET /check"]
--- response_body eval
["nil true\n", "small body\n"]

=== TEST 24: client_body_in_file_only clean: the file goes with the request
--- config
    client_body_in_file_only clean;
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            package.loaded.cleaned_body = ngx.req.get_body_file()
            ngx.say(#io.open(package.loaded.cleaned_body):read("*a"))
        }
    }
    location = /check {
        content_by_lua_block { ngx.say(io.open(package.loaded.cleaned_body) and "kept" or "gone") }
    }
--- pipelined_requests eval
["POST /t\nsmall body", "GET /check"]
--- response_body eval
["10\n", "gone\n"]

=== TEST 25: client_body_in_file_only with a bad value
--- config
    client_body_in_file_only sometimes;
--- must_die
--- error_log
invalid value "sometimes" in "client_body_in_file_only" directive, it must be "on", "off" or "clean"

=== TEST 26: a discarded body cannot be replaced: request body not read yet
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.discard_body()
            local ok, err = pcall(ngx.req.set_body_data, "new")
            local ok2, err2 = pcall(ngx.req.init_body)
            ngx.say(err, " / ", err2)
        }
    }
--- request
POST /t
old body
--- response_body
request body not read yet / request body not read yet
