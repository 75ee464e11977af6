# lua-resty-core's modules beyond the ngx table: ngx.resp.add_header and the helpers of
# resty.core.base that libraries use.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.resp.add_header appends next to ngx.header's value
--- config
    location = /t {
        content_by_lua_block {
            local resp = require "ngx.resp"
            ngx.header["X-Foo"] = "a"
            resp.add_header("X-Foo", "b")
            resp.add_header("X-Foo", { "c", "d" })
            resp.add_header("X_Bar", 42)
            ngx.say(table.concat(ngx.header["X-Foo"], ","), " ", ngx.header.x_bar)
        }
    }
--- request
GET /t
--- response_body
a,b,c,d 42
--- raw_response_headers_like: X-Foo: a\r\nX-Foo: b\r\nX-Foo: c\r\nX-Foo: d\r\n

=== TEST 2: ngx.resp.add_header replaces the headers nginx keeps one of
--- config
    location = /t {
        content_by_lua_block {
            local resp = require "ngx.resp"
            resp.add_header("Content-Type", "text/x-one")
            resp.add_header("Content-Type", "text/x-two")
            resp.add_header("Location", "/a")
            resp.add_header("Location", "/b")
            resp.add_header("Cache-Control", "no-cache")
            resp.add_header("Cache-Control", "no-store")
            ngx.say(ngx.header.content_type, " ", ngx.header.location, " ",
                    table.concat(ngx.header.cache_control, ", "))
        }
    }
--- request
GET /t
--- response_headers
Content-Type: text/x-two
--- response_body
text/x-two /b no-cache, no-store

=== TEST 3: ngx.resp.add_header refuses nil and an empty table
--- config
    location = /t {
        content_by_lua_block {
            local resp = require "ngx.resp"
            ngx.say(pcall(resp.add_header, "X-A", nil))
            ngx.say(pcall(resp.add_header, "X-A", {}))
            ngx.say(pcall(resp.add_header, "X-A", function() end))
        }
    }
--- request
GET /t
--- response_body
falseinvalid header value
falseinvalid header value
falseattempt to set a header value of type function

=== TEST 4: ngx.resp.add_header after the headers went out is logged, not raised
--- config
    location = /t {
        content_by_lua_block {
            ngx.send_headers()
            require("ngx.resp").add_header("X-Late", "1")
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_headers
!X-Late
--- response_body
done
--- error_log
attempt to set ngx.header.HEADER after sending out response headers

=== TEST 5: ngx.resp.add_header escapes what would break the header line
--- config
    location = /t {
        content_by_lua_block {
            require("ngx.resp").add_header("X-Inj", "a\r\nSet-Cookie: x=1")
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_headers
X-Inj: a%0D%0ASet-Cookie: x=1
!Set-Cookie

=== TEST 6: resty.core.base.get_request(): a handle in a request, nil in init_by_lua, one in init_worker_by_lua
--- http_config
    init_by_lua_block {
        in_init = require("resty.core.base").get_request()
    }
    init_worker_by_lua_block {
        in_init_worker = require("resty.core.base").get_request() ~= nil
    }
--- config
    location = /t {
        content_by_lua_block {
            local base = require "resty.core.base"
            local r = base.get_request()
            ngx.say(type(r), " ", r ~= nil, " ", in_init, " ", in_init_worker)
        }
    }
--- request
GET /t
--- response_body
cdata true nil true

=== TEST 7: resty.core.base string buffers and pointers
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            local base = require "resty.core.base"
            local buf = base.get_string_buf(16)
            ffi.copy(buf, "hello")
            ngx.say(ffi.string(buf, 5), " ", buf == base.get_string_buf(100),
                    " ", buf == base.get_string_buf(8192), " ", base.get_string_buf_size())
            base.set_string_buf_size(10000)
            ngx.say(base.get_string_buf_size(), " ", buf == base.get_string_buf(16))
            local sz = base.get_size_ptr()
            sz[0] = 7
            ngx.say(tonumber(base.get_size_ptr()[0]), " ", type(base.get_errmsg_ptr()))
            base.set_string_buf_size(4096)
        }
    }
--- request
GET /t
--- response_body
hello true false 4096
10000 false
7 cdata

=== TEST 8: resty.core.base.ref_in_table reuses freed slots; allows_subsystem
--- config
    location = /t {
        content_by_lua_block {
            local base = require "resty.core.base"
            local t = {}
            local a = base.ref_in_table(t, "a")
            local b = base.ref_in_table(t, "b")
            -- free slot a the way lua-resty-core's users do: chain it from t[0]
            t[a] = t[0] or 0
            t[0] = a
            local c = base.ref_in_table(t, "c")
            ngx.say(a, " ", b, " ", c, " ", t[c], " ", base.ref_in_table(t, nil))
            ngx.say(pcall(base.allows_subsystem, "http", "stream"))
            ngx.say(pcall(base.allows_subsystem, "stream"))
        }
    }
--- request
GET /t
--- response_body
1 2 1 c -1
true
falseunsupported subsystem: http

=== TEST 9: resty.core.base declares nginx's FFI types for code that names them
--- config
    location = /t {
        content_by_lua_block {
            local ffi = require "ffi"
            require "resty.core.base"
            local s = ffi.new("ngx_str_t")
            s.data, s.len = "abc", 3
            ngx.say(tonumber(s.len), " ", ffi.sizeof("ngx_http_lua_ffi_str_t") > 0,
                    " ", (pcall(ffi.typeof, "ngx_http_request_t *")))
        }
    }
--- request
GET /t
--- response_body
3 true true

=== TEST 10: ngx.req.get_uri_ext: the URI's extension as nginx finds it
--- config
    location /t {
        content_by_lua_block {
            local get_uri_ext = require("ngx.req").get_uri_ext
            ngx.say("[", get_uri_ext(), "] [", get_uri_ext(2), "] [", get_uri_ext(0), "]")
        }
    }
--- pipelined_requests eval
["GET /t/test.m3u8", "GET /t/dir.d/file", "GET /t/.hidden", "GET /t/a.tar.gz?x=y.z"]
--- response_body eval
["[m3u8] [m3] [m3u8]\n", "[] [] []\n", "[] [] []\n", "[gz] [gz] [gz]\n"]

=== TEST 11: ngx.req.get_uri_ext follows internal redirects, and is refused without a request
--- http_config
    init_by_lua_block {
        init_err = select(2, pcall(require("ngx.req").get_uri_ext))
    }
    init_worker_by_lua_block {
        worker_err = select(2, pcall(require("ngx.req").get_uri_ext))
    }
--- config
    location = /a.html {
        rewrite ^ /b.json last;
    }
    location = /b.json {
        content_by_lua_block {
            ngx.say(require("ngx.req").get_uri_ext(), " | ", init_err, " | ", worker_err)
        }
    }
--- request
GET /a.html
--- response_body
json | no request found | API disabled in the current context

=== TEST 12: a dot that starts the file name is not an extension for types either
--- config
    location ~ ^/ {
        types { text/x-hidden hidden; }
        default_type text/x-default;
        root html;
    }
--- user_files
>>> .hidden
secret
--- request
GET /.hidden
--- response_headers
Content-Type: text/x-default

=== TEST 13: an extension after a dot inside the name picks the type
--- config
    location ~ ^/ {
        types { text/x-b b; }
        default_type text/x-default;
        root html;
    }
--- user_files
>>> a.b
bee
--- request
GET /a.b
--- response_headers
Content-Type: text/x-b
