# headers-more (bundled with OpenResty): more_set_headers, more_clear_headers,
# more_set_input_headers, more_clear_input_headers.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: set and replace output headers, built-in Server included
--- config
    location = /t {
        more_set_headers 'Server: my-server' 'X-A: 1';
        more_set_headers 'X-A: 2';
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Server: my-server
X-A: 2
--- response_body
ok

=== TEST 2: clear the built-in Server and Date, and a header Lua set
--- config
    location = /t {
        more_clear_headers Server Date 'X-Lua';
        content_by_lua_block { ngx.header["X-Lua"] = "x" ngx.say("ok") }
    }
--- request
GET /t
--- response_headers
!Server
!Date
!X-Lua
--- response_body
ok

=== TEST 3: a trailing * clears every header with that prefix
--- config
    location = /t {
        more_clear_headers 'X-Hidden-*';
        content_by_lua_block {
            ngx.header["X-Hidden-One"] = "1"
            ngx.header["X-Hidden-Two"] = "2"
            ngx.header["X-Shown"] = "3"
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
!X-Hidden-One
!X-Hidden-Two
X-Shown: 3

=== TEST 4: -s limits a command to statuses; unlike add_header every status counts
--- config
    location = /t {
        more_set_headers -s '404 500' -s 503 'X-Err: yes';
        more_set_headers 'X-Always: yes';
        return 404;
    }
    location = /ok {
        more_set_headers -s '404 500' 'X-Err: yes';
        return 200 "ok\n";
    }
--- pipelined_requests eval
["GET /t", "GET /ok"]
--- error_code eval
[404, 200]
--- response_headers eval
["X-Err: yes\nX-Always: yes", "!X-Err"]
--- response_body_like eval
["404 Not Found", "^ok\n\$"]

=== TEST 5: -s on an error page
--- config
    location = /t {
        more_set_headers -s 404 'X-Err: yes';
        more_set_headers 'X-Always: yes';
        return 404;
    }
--- request
GET /t
--- error_code: 404
--- response_headers
X-Err: yes
X-Always: yes

=== TEST 6: -t limits a command to content types; Content-Type itself can be set
--- config
    location = /css {
        default_type text/css;
        more_set_headers -t 'text/plain text/css' 'Content-Type: text/foo' 'X-Typed: yes';
        return 200 "css\n";
    }
    location = /html {
        default_type text/html;
        more_set_headers -t 'text/plain text/css' 'X-Typed: yes';
        return 200 "html\n";
    }
--- pipelined_requests eval
["GET /css", "GET /html"]
--- response_headers eval
["", "Content-Type: text/html\n!X-Typed\n"]

=== TEST 7: -t matches the type without its parameters
--- config
    location = /t {
        more_set_headers -t 'text/html' 'X-Typed: yes';
        content_by_lua_block { ngx.header.content_type = "text/html; charset=utf-8" ngx.say("x") }
    }
--- request
GET /t
--- response_headers
X-Typed: yes

=== TEST 8: values take variables; outer levels' commands run first
--- config
    more_set_headers 'X-Level: server' 'X-Server: $server_name';
    location = /t {
        more_set_headers 'X-Level: location';
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Level: location
X-Server: localhost

=== TEST 9: runs after header_filter_by_lua
--- config
    location = /t {
        more_set_headers 'X-Who: more';
        header_filter_by_lua_block { ngx.header["X-Who"] = "lua" }
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Who: more

=== TEST 10: Content-Length can be cleared: the body goes chunked
--- config
    location = /t {
        more_clear_headers 'Content-Length';
        return 200 "hello\n";
    }
--- request
GET /t
--- response_headers
!Content-Length
Transfer-Encoding: chunked
--- response_body
hello

=== TEST 11: more_set_input_headers changes what the request carries, Host included
--- config
    location = /t {
        set $my_host 'my.host';
        more_set_input_headers 'Host: $my_host' 'X-Foo: bar';
        content_by_lua_block {
            ngx.say(ngx.var.host, " ", ngx.var.http_host, " ", ngx.var.http_x_foo)
        }
    }
--- request
GET /t
--- response_body
my.host my.host bar

=== TEST 12: -r replaces only headers that are there
--- config
    location = /t {
        more_set_input_headers -r 'X-Foo: new' 'X-Bar: new';
        content_by_lua_block { ngx.say(ngx.var.http_x_foo, " ", tostring(ngx.var.http_x_bar)) }
    }
--- request
GET /t
--- more_headers
X-Foo: old
--- response_body
new nil

=== TEST 13: more_clear_input_headers, with a wildcard, and -t on the request's type
--- config
    location = /t {
        more_clear_input_headers 'X-Drop-*';
        more_clear_input_headers -t 'text/plain' 'X-Plain';
        more_clear_input_headers -t 'application/json' 'X-Json';
        content_by_lua_block {
            ngx.say(tostring(ngx.var.http_x_drop_a), " ", tostring(ngx.var.http_x_plain), " ", tostring(ngx.var.http_x_json))
        }
    }
--- request
GET /t
--- more_headers
X-Drop-A: 1
X-Plain: 2
X-Json: 3
Content-Type: text/plain; charset=utf-8
--- response_body
nil nil 3

=== TEST 14: bad options are refused at startup
--- config
    location = /t {
        more_set_headers -z 'X: y';
    }
--- must_die
--- error_log
invalid option name: "-z"

=== TEST 15: -s takes status codes
--- config
    location = /t {
        more_set_headers -s abc 'X: y';
    }
--- must_die
--- error_log
status code value is invalid: "abc"

=== TEST 16: -s is not for input headers
--- config
    location = /t {
        more_set_input_headers -s 404 'X: y';
    }
--- must_die
--- error_log
invalid option name: "-s"

=== TEST 17: a directive without a header is refused
--- config
    location = /t {
        more_set_headers -s 404;
    }
--- must_die
--- error_log
no header specified

=== TEST 18: ngx.header.Date replaces the built-in Date
--- config
    location = /t {
        content_by_lua_block { ngx.header.Date = "Thu, 01 Jan 1970 00:00:00 GMT" ngx.say("ok") }
    }
--- request
GET /t
--- response_headers
Date: Thu, 01 Jan 1970 00:00:00 GMT

=== TEST 19: -t matching: Content-Type replaced, a header added
--- config
    location = /css {
        default_type text/css;
        more_set_headers -t 'text/plain text/css' 'Content-Type: text/foo' 'X-Typed: yes';
        return 200 "css\n";
    }
--- request
GET /css
--- response_headers
Content-Type: text/foo
X-Typed: yes

=== TEST 20: a wildcard against a header name with multibyte characters
--- config
    location = /t {
        more_clear_headers 'X-*';
        content_by_lua_block { ngx.header["X-Gone"] = "1" ngx.header["Xéa"] = "2" ngx.say("ok") }
    }
--- request
GET /t
--- response_headers
!X-Gone
Xéa: 2
--- response_body
ok
