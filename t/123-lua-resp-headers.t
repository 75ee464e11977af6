# Response headers set from Lua as nginx's own filters see them: conditional requests
# (the not_modified filter), ngx.resp.get_headers with the core's built-in headers,
# header names as written.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a Last-Modified set from Lua answers a matching If-Modified-Since with 304
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT
--- error_code: 304
--- response_headers
Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT
Content-Type:
--- response_body

=== TEST 2: a different If-Modified-Since gets the page (exact match by default)
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT
--- response_body
the page

=== TEST 3: if_modified_since before: an If-Modified-Since later than Last-Modified is a 304
--- config
    if_modified_since before;
    location = /page {
        content_by_lua_block {
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Modified-Since: Wed, 15 Nov 2023 08:00:00 GMT
--- error_code: 304

=== TEST 4: an ETag set from Lua answers If-None-Match with 304 (weak compare)
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-None-Match: W/"v7"
--- error_code: 304

=== TEST 5: If-None-Match with a list of tags
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-None-Match: "v1", "v7"
--- error_code: 304

=== TEST 6: If-None-Match: * matches any ETag
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-None-Match: *
--- error_code: 304

=== TEST 7: If-None-Match with another tag gets the page
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-None-Match: "v8"
--- error_code: 200

=== TEST 8: both validators sent and both match: 304
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-None-Match: "v7"
If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT
--- error_code: 304

=== TEST 9: both validators sent, the date does not match: the page
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-None-Match: "v7"
If-Modified-Since: Tue, 14 Nov 2023 22:00:00 GMT
--- error_code: 200

=== TEST 10: no validator in the response: If-None-Match: * does not make a 304
--- config
    location = /plain { content_by_lua_block { ngx.say("plain") } }
--- request
GET /plain
--- more_headers
If-None-Match: *
--- error_code: 200

=== TEST 11: a status other than 200 is left alone
--- config
    location = /created {
        content_by_lua_block {
            ngx.status = 201
            ngx.header.etag = '"v7"'
            ngx.say("made")
        }
    }
--- request
GET /created
--- more_headers
If-None-Match: "v7"
--- error_code: 201

=== TEST 12: the header filter sees the 304
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
        header_filter_by_lua_block { ngx.header["X-Seen"] = ngx.status }
    }
--- request
GET /page
--- more_headers
If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT
--- error_code: 304
--- response_headers
X-Seen: 304

=== TEST 13: ngx.resp.get_headers has the built-in headers, found by any spelling
--- config
    location = /t {
        default_type text/x-probe;
        content_by_lua_block { ngx.say("body") }
        header_filter_by_lua_block {
            local h = ngx.resp.get_headers()
            ngx.log(ngx.WARN, "seen: ", h["Content-Type"], " ", h.content_type, " ",
                    h["content-length"], " ", h.Connection)
        }
    }
--- request
GET /t HTTP/1.0
--- response_body
body
--- error_log
seen: text/x-probe text/x-probe 5 close

=== TEST 14: Connection (the client asked for close) and, once chunked, Transfer-Encoding
--- config
    location = /t {
        content_by_lua_block {
            local before = ngx.resp.get_headers()
            ngx.say("x")
            ngx.flush(true)
            local after = ngx.resp.get_headers()
            ngx.log(ngx.WARN, "conn ", before.connection, " te ", before["transfer-encoding"],
                    " then ", after.connection, " ", after["Transfer-Encoding"])
        }
    }
--- request
GET /t
--- response_body
x
--- error_log
conn close te nil then close chunked

=== TEST 15: raw names as written; a name with capitals inside is sent as written
--- config
    location = /t {
        content_by_lua_block {
            ngx.header["x-MiXed"] = "1"
            ngx.header[42] = "number name"
            local raw = ngx.resp.get_headers(0, true)
            ngx.say(raw["x-MiXed"], " ", raw["x-mixed"], " ", ngx.var.sent_http_42)
        }
    }
--- request
GET /t
--- raw_response_headers_like: x-MiXed: 1\r
--- response_body
1 nil number name

=== TEST 16: Content-Type cleared from Lua before any output: no default_type is added
--- config
    location = /t {
        default_type text/x-default;
        content_by_lua_block {
            ngx.header.content_type = nil
            ngx.say("typeless")
        }
    }
--- request
GET /t
--- response_headers
!Content-Type
--- response_body
typeless

=== TEST 17: before any output Content-Type reads nil; the default comes with the output
--- config
    location = /t {
        default_type text/x-default;
        content_by_lua_block {
            local before = ngx.header.content_type
            ngx.print("a ")
            ngx.say(before, " ", ngx.header.content_type)
        }
    }
--- request
GET /t
--- response_headers
Content-Type: text/x-default
--- response_body
a nil text/x-default

=== TEST 18: ngx.resp.get_headers counts the built-in Connection toward its limit
--- config
    location = /t {
        content_by_lua_block {
            for i = 1, 4 do ngx.header["X-H" .. i] = i end
            local function count(max)
                local h, err = ngx.resp.get_headers(max)
                local n = 0
                for _ in pairs(h) do n = n + 1 end
                return n .. " " .. tostring(err)
            end
            ngx.say(count(5), ", ", count(4), ", ", count())
        }
    }
--- request
GET /t
--- response_body
5 nil, 4 truncated, 5 nil

=== TEST 19: If-Match with the response's ETag: the page
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Match: "v1", "v7"
--- error_code: 200

=== TEST 20: If-Match with another tag: 412 and its page
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Match: "v8"
--- error_code: 412
--- response_body_like: 412 Precondition Failed

=== TEST 21: If-Match: * needs an ETag
--- config
    location = /plain { content_by_lua_block { ngx.say("no validators") } }
--- request
GET /plain
--- more_headers
If-Match: *
--- error_code: 412

=== TEST 22: If-Unmodified-Since at or after Last-Modified: the page
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Unmodified-Since: Tue, 14 Nov 2023 22:13:20 GMT
--- error_code: 200

=== TEST 23: If-Unmodified-Since before Last-Modified: 412
--- config
    location = /page {
        content_by_lua_block {
            ngx.header.etag = '"v7"'
            ngx.header.last_modified = ngx.http_time(1700000000)
            ngx.say("the page")
        }
    }
--- request
GET /page
--- more_headers
If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT
--- error_code: 412

=== TEST 24: a static file with a failed If-Match: 412
--- user_files
>>> f.txt
static
--- config
    location = /f.txt { }
--- request
GET /f.txt
--- more_headers
If-Match: "nope"
--- error_code: 412
