# Request bodies from Lua, and ngx.log's argument rules.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: get_body_data before read_body is nil
--- config
    location = /t { content_by_lua_block { ngx.say(tostring(ngx.req.get_body_data())) } }
--- request
POST /t
abc
--- response_body
nil

=== TEST 2: read_body twice, and no body at all
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        ngx.req.read_body()
        ngx.say(tostring(ngx.req.get_body_data()))
    } }
--- request
GET /t
--- response_body
nil

=== TEST 3: a chunked request body is read whole
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        ngx.say(ngx.req.get_body_data())
    } }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
--- response_body
abcde

=== TEST 4: Expect 100-continue with read_body
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        ngx.say(ngx.req.get_body_data())
    } }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
--- error_code: 100
--- response_body_like: ^HTTP/1\.1 200 OK\r\n.*\r\n\r\n6\r\nhello\n\r\n0\r\n\r\n$

=== TEST 5: get_post_args with repeated keys and a limit
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        local args, err = ngx.req.get_post_args(2)
        ngx.say(type(args.a), " ", args.a[1], args.a[2], " ", tostring(args.b), " ", err)
    } }
--- request
POST /t
a=1&a=2&b=3
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body
table 12 nil truncated

=== TEST 6: the spooled body file holds the body
--- http_config
    client_body_buffer_size 1k;
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        local f = assert(io.open(ngx.req.get_body_file()))
        local data = f:read("*a")
        f:close()
        ngx.say(#data, " ", data:sub(1, 3))
    } }
--- request eval
"POST /t\n" . ("xyz" x 1000)
--- response_body
3000 xyz

=== TEST 7: get_post_args of a body in a file reports it, as current OpenResty
--- http_config
    client_body_buffer_size 1k;
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        local args, err = ngx.req.get_post_args()
        ngx.say(tostring(args), " ", err)
    } }
--- request eval
"POST /t\n" . ("a=b&" x 1000)
--- response_body
nil request body in temp file not supported

=== TEST 8: set_body_data before the body was read is an error
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(ngx.req.set_body_data, "x")
        ngx.say(ok, " ", err)
    } }
--- request
POST /t
old
--- response_body
false request body not read yet

=== TEST 9: discard_body leaves no body data
--- config
    location = /t { content_by_lua_block {
        ngx.req.discard_body()
        ngx.say(tostring(ngx.req.get_body_data()))
    } }
--- request
POST /t
abc
--- response_body
nil

=== TEST 10: init_body with a size, then append and finish
--- config
    location = /t { content_by_lua_block {
        ngx.req.read_body()
        ngx.req.init_body(64)
        ngx.req.append_body("part1,")
        ngx.req.append_body("part2")
        ngx.req.finish_body()
        ngx.say(ngx.req.get_body_data())
    } }
--- request
POST /t
ignored
--- response_body
part1,part2

=== TEST 11: ngx.log joins its arguments and writes nil and booleans
--- config
    location = /t { content_by_lua_block {
        ngx.log(ngx.WARN, "a", 1, nil, true, 2.5)
        ngx.say("ok")
    } }
--- request
GET /t
--- error_log
a1niltrue2.5

=== TEST 12: ngx.log takes a table with __tostring
--- config
    location = /t { content_by_lua_block {
        local obj = setmetatable({}, { __tostring = function() return "OBJ" end })
        ngx.log(ngx.WARN, "value: ", obj)
        ngx.say("ok")
    } }
--- request
GET /t
--- error_log
value: OBJ

=== TEST 13: ngx.log refuses a plain table
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(ngx.log, ngx.WARN, {})
        ngx.say(ok, " ", err)
    } }
--- request
GET /t
--- response_body_like: ^false .*bad argument #1 to 'log'

=== TEST 14: print logs at notice with the lua prefix
--- config
    location = /t { content_by_lua_block { print("from print ", 42) ngx.say("ok") } }
--- request
GET /t
--- error_log eval
qr/\[notice\] .*\[lua\] content_by_lua\(nginx\.conf:\d+\):1: from print 42/

=== TEST 15: ngx.log below the error_log level is not written
--- config
    location = /t { content_by_lua_block { ngx.log(ngx.DEBUG, "quiet message") ngx.say("ok") } }
--- log_level: info
--- request
GET /t
--- no_error_log
quiet message

=== TEST 16: ngx.log carries the request's context
--- config
    location = /t { content_by_lua_block { ngx.log(ngx.ERR, "ctx check") ngx.say("ok") } }
--- request
GET /t
--- error_log eval
qr/\[error\] .*ctx check, client: 127\.0\.0\.1, server: .*, request: "GET \/t HTTP\/1\.1", host: "localhost/

=== TEST 17: a log line made inside a named Lua function names it
--- config
    location = /t {
        content_by_lua_block {
            local helpers = {}
            function helpers.check(v)
                ngx.log(ngx.WARN, "checking ", v)
            end
            local function outer()
                helpers.check(7)
            end
            outer()
            ngx.log(ngx.WARN, "from the top")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
[qr/\[lua\] content_by_lua\(nginx\.conf:\d+\):4: check\(\): checking 7,/, qr/\[lua\] content_by_lua\(nginx\.conf:\d+\):10: from the top,/]
