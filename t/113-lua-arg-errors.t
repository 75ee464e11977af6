# Argument errors and contexts without a request.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.req.set_method with an unknown method
--- config
    location = /t { content_by_lua_block { ngx.req.set_method(999) } }
--- request
GET /t
--- error_code: 500
--- error_log
unsupported HTTP method: 999

=== TEST 2: ngx.req.set_uri_args with a boolean
--- config
    location = /t { content_by_lua_block { ngx.req.set_uri_args(true) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'set_uri_args' (string, number, or table expected, but got boolean)

=== TEST 3: ngx.encode_args with a number
--- config
    location = /t { content_by_lua_block { ngx.encode_args(1) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'encode_args' (table expected, got number)

=== TEST 4: ngx.decode_args with a limit
--- config
    location = /t {
        content_by_lua_block {
            local t = ngx.decode_args("a=1&b=2&c=3", 2)
            ngx.say(t.a, " ", t.b, " ", tostring(t.c))
        }
    }
--- request
GET /t
--- response_body
1 2 nil

=== TEST 5: ngx.decode_base64 of nil
--- config
    location = /t { content_by_lua_block { ngx.decode_base64(nil) } }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/content_by_lua\(nginx\.conf:\d+\):1: string argument only/

=== TEST 6: ngx.decode_base64 takes strings only, as lua-resty-core
--- config
    location = /t { content_by_lua_block {
        ngx.say(pcall(ngx.decode_base64, 1234))
        ngx.say(#ngx.decode_base64("1234"))
    } }
--- request
GET /t
--- response_body_like chop
^falsestring argument only
3$

=== TEST 7: ngx.quote_sql_str of nil
--- config
    location = /t { content_by_lua_block { ngx.quote_sql_str(nil) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'quote_sql_str' (string expected, got nil)

=== TEST 8: crc32 of nil is the crc32 of the empty string
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.crc32_long(nil), " ", ngx.crc32_short("")) } }
--- request
GET /t
--- response_body
0 0

=== TEST 9: ngx.http_time with a non-number
--- config
    location = /t { content_by_lua_block { ngx.http_time("abc") } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'http_time' (number expected, got string)

=== TEST 10: parse_http_time reads RFC 850 and asctime dates
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.parse_http_time("Thursday, 18-Nov-10 11:27:35 GMT"))
            ngx.say(ngx.parse_http_time("Thu Nov 18 11:27:35 2010"))
        }
    }
--- request
GET /t
--- response_body
1290079655
1290079655

=== TEST 11: cookie_time past 2037 keeps the full year
--- config
    location = /t { content_by_lua_block { ngx.say(ngx.cookie_time(2200000000)) } }
--- request
GET /t
--- response_body
Sun, 18 Sep 2039 23:06:40 GMT

=== TEST 12: ngx.exec with a bad args type
--- config
    location = /t { content_by_lua_block { ngx.exec("/x", true) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #2 to 'exec' (string, number, or table expected, but got boolean)

=== TEST 13: ngx.redirect without a uri
--- config
    location = /t { content_by_lua_block { ngx.redirect(nil) } }
--- request
GET /t
--- error_code: 500
--- error_log
bad argument #1 to 'redirect' (string expected, got nil)

=== TEST 14: ngx.sleep without an argument
--- config
    location = /t { content_by_lua_block { ngx.sleep() } }
--- request
GET /t
--- error_code: 500
--- error_log
attempt to pass 0 arguments, but accepted 1

=== TEST 15: clearing Content-Type through ngx.header: none is sent (no default either)
--- config
    location = /t {
        content_by_lua_block {
            ngx.header.content_type = "text/x"
            ngx.header.content_type = nil
            ngx.print("x")
        }
    }
--- request
GET /t
--- response_headers
!Content-Type

=== TEST 16: request body variables before the body is read
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(tostring(ngx.var.request_body), " ", tostring(ngx.req.get_body_data()))
        }
    }
--- request
POST /t
unread
--- response_body
nil nil

=== TEST 17: read_body twice is fine
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.req.read_body()
            ngx.say(ngx.req.get_body_data())
        }
    }
--- request
POST /t
twice
--- response_body
twice

=== TEST 18: discard_body then read_body gives no body
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.discard_body()
            ngx.req.read_body()
            ngx.say(tostring(ngx.req.get_body_data()))
        }
    }
--- request
POST /t
dropped
--- response_body
nil

=== TEST 19: get_post_args with a limit
--- config
    location = /t {
        content_by_lua_block {
            ngx.req.read_body()
            local args, err = ngx.req.get_post_args(1)
            ngx.say(args.a, " ", tostring(args.b), " ", err)
        }
    }
--- request
POST /t
a=1&b=2
--- response_body
1 nil truncated

=== TEST 20: raw_header of an HTTP/1.0 request
--- config
    location = /t { content_by_lua_block { ngx.print(ngx.req.raw_header()) } }
--- raw_request eval
"GET /t HTTP/1.0\r\nX-A: 1\r\n\r\n"
--- response_body eval
"GET /t HTTP/1.0\r\nX-A: 1\r\n\r\n"

=== TEST 21: ngx.ctx in init_by_lua has no request
--- http_config
    init_by_lua_block {
        local ok, err = pcall(function() return ngx.ctx end)
        init_result = tostring(ok) .. " " .. tostring(err)
    }
--- config
    location = /t { content_by_lua_block { ngx.say(init_result) } }
--- request
GET /t
--- response_body_like: ^false .*no request found

=== TEST 22: ngx.var in init_worker_by_lua is disabled in that context, as OpenResty
--- http_config
    init_worker_by_lua_block {
        local ok, err = pcall(function() return ngx.var.uri end)
        worker_result = tostring(ok) .. " " .. tostring(err)
    }
--- config
    location = /t { content_by_lua_block { ngx.say(worker_result) } }
--- request
GET /t
--- response_body_like: ^false init_worker_by_lua\(nginx\.conf:\d+\):2: API disabled in the current context

=== TEST 23: ngx.say in init_by_lua has no request
--- http_config
    init_by_lua_block {
        local ok, err = pcall(ngx.say, "x")
        say_result = tostring(ok) .. " " .. tostring(err)
    }
--- config
    location = /t { content_by_lua_block { ngx.say(say_result) } }
--- request
GET /t
--- response_body_like: ^false .*no request found

=== TEST 24: ngx.log in init_by_lua writes without request context
--- http_config
    init_by_lua_block { ngx.log(ngx.WARN, "from init phase") }
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_log eval
qr/\[warn\] .*\[lua\] init_by_lua\(nginx\.conf:\d+\):1: from init phase$/m

=== TEST 25: ngx.sleep with a negative time or two arguments
--- config
    location = /t { content_by_lua_block {
        local _, e1 = pcall(ngx.sleep, -1)
        local _, e2 = pcall(ngx.sleep, 1, 2)
        ngx.say(e1)
        ngx.say(e2)
    } }
--- request
GET /t
--- response_body
invalid sleep duration "-1000"
attempt to pass 2 arguments, but accepted 1

=== TEST 26: arguments of the wrong type are reported in Lua's words, with the function's name
--- config
    location = /t { content_by_lua_block {
        local out = {}
        for _, f in ipairs({
            function() return ngx.req.get_uri_args("x") end,
            function() return ngx.req.get_headers("x") end,
            function() return ngx.req.set_header(nil, "x") end,
            function() return ngx.decode_args(nil) end,
        }) do
            local _, err = pcall(f)
            out[#out + 1] = err
        end
        ngx.say(table.concat(out, "\n"))
    } }
--- request
GET /t
--- response_body
bad argument #1 to 'get_uri_args' (number expected, got string)
bad argument #1 to 'get_headers' (number expected, got string)
bad argument #1 to 'set_header' (string expected, got nil)
bad argument #1 to 'decode_args' (string expected, got nil)
