# Codec and argument-table edge cases, as lua-nginx-module documents them.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: ngx.unescape_uri decodes + to a space and keeps bad escapes
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.unescape_uri("a+b%20c"))
        ngx.say(ngx.unescape_uri("100%"))
        ngx.say(ngx.unescape_uri("%zz%4"))
    } }
--- request
GET /t
--- response_body
a b c
100%
%zz%4

=== TEST 2: ngx.escape_uri escapes a URI component
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.escape_uri("a b/c?d=e&f~g-h_i.j"))
    } }
--- request
GET /t
--- response_body
a%20b%2Fc%3Fd%3De%26f~g-h_i.j

=== TEST 3: ngx.escape_uri of a number and of nil
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.escape_uri(12.5))
        ngx.say(ngx.escape_uri(nil) == "")
    } }
--- request
GET /t
--- response_body
12.5
true

=== TEST 4: ngx.decode_args with repeated keys, bare keys and empty values
--- config
    location = /t { content_by_lua_block {
        local args = ngx.decode_args("a=1&b&c=&a=2&d=x+y")
        ngx.say(type(args.a), " ", args.a[1], " ", args.a[2])
        ngx.say(args.b, " [", args.c, "] ", args.d)
    } }
--- request
GET /t
--- response_body
table 1 2
true [] x y

=== TEST 5: ngx.decode_args with a limit
--- config
    location = /t { content_by_lua_block {
        local args = ngx.decode_args("a=1&b=2&c=3", 2)
        ngx.say(args.a, args.b, tostring(args.c))
    } }
--- request
GET /t
--- response_body
12nil

=== TEST 6: ngx.encode_args with booleans and list values
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.encode_args({a = true}))
        ngx.say("[", ngx.encode_args({a = false}), "]")
        ngx.say(ngx.encode_args({a = {1, 2}}))
        ngx.say(ngx.encode_args({["a b"] = "c&d"}))
    } }
--- request
GET /t
--- response_body
a
[]
a=1&a=2
a%20b=c%26d

=== TEST 7: ngx.encode_args refuses a function value
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(ngx.encode_args, {a = print})
        ngx.say(ok, " ", err)
    } }
--- request
GET /t
--- response_body
false attempt to use function as query arg value

=== TEST 8: ngx.req.get_uri_args with repeated, bare and empty arguments
--- config
    location = /t { content_by_lua_block {
        local args = ngx.req.get_uri_args()
        ngx.say(args.a[1], ",", args.a[2], " ", args.b, " [", args.c, "] ", args["d e"])
    } }
--- request
GET /t?a=1&a=2&b&c=&d%20e=f
--- response_body
1,2 true [] f

=== TEST 9: ngx.req.get_uri_args ignores empty keys
--- config
    location = /t { content_by_lua_block {
        local n = 0
        for k, v in pairs(ngx.req.get_uri_args()) do n = n + 1 end
        ngx.say(n)
    } }
--- request
GET /t?=x&&a=1
--- response_body
1

=== TEST 10: ngx.md5 and sha1 of a number hash its text
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.md5(123) == ngx.md5("123"))
        ngx.say(ngx.md5(""))
    } }
--- request
GET /t
--- response_body
true
d41d8cd98f00b204e9800998ecf8427e

=== TEST 11: ngx.crc32_short and crc32_long agree
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.crc32_short("hello"), " ", ngx.crc32_long("hello"))
        ngx.say(ngx.crc32_long(""))
    } }
--- request
GET /t
--- response_body
907060870 907060870
0

=== TEST 12: ngx.hmac_sha1 of a known vector
--- config
    location = /t { content_by_lua_block {
        local s = ngx.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")
        ngx.say((s:gsub(".", function(c) return string.format("%02x", c:byte()) end)))
    } }
--- request
GET /t
--- response_body
de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9

=== TEST 13: ngx.encode_base64 without padding
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.encode_base64("a"), " ", ngx.encode_base64("a", true))
        ngx.say(ngx.encode_base64(""), "|")
    } }
--- request
GET /t
--- response_body
YQ== YQ
|

=== TEST 14: ngx.encode_base64 with a bad no_padding argument
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(ngx.encode_base64, "a", "yes")
        ngx.say(ok, " ", err)
        ngx.say(ngx.encode_base64("a", false), " ", ngx.encode_base64("a", true))
    } }
--- request
GET /t
--- response_body_like chop
^false .*bad no_padding: boolean expected, got string
YQ== YQ$

=== TEST 15: ngx.decode_base64 of invalid input is nil
--- config
    location = /t { content_by_lua_block {
        ngx.say(tostring(ngx.decode_base64("a")), " ", tostring(ngx.decode_base64("!!!!")))
        ngx.say(ngx.decode_base64("YQ"))
    } }
--- request
GET /t
--- response_body
nil nil
a

=== TEST 16: ngx.base64 url-safe round trip
--- config
    location = /t { content_by_lua_block {
        local b64 = require "ngx.base64"
        local enc = b64.encode_base64url("\255\254\253")
        ngx.say(enc, " ", b64.decode_base64url(enc) == "\255\254\253")
        local res, err = b64.decode_base64url("+/")
        ngx.say(tostring(res), " ", err)
    } }
--- request
GET /t
--- response_body
__79 true
nil invalid input

=== TEST 17: ngx.quote_sql_str escapes quotes, backslashes and control bytes
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.quote_sql_str("a'b\\c\n\r\t\0\26\""))
    } }
--- request
GET /t
--- response_body
'a\'b\\c\n\r\t\0\Z\"'

=== TEST 18: ngx.parse_http_time refuses out-of-range fields
--- config
    location = /t { content_by_lua_block {
        ngx.say(tostring(ngx.parse_http_time("Thu, 32 Nov 2010 11:27:35 GMT")))
        ngx.say(tostring(ngx.parse_http_time("Thu, 18 Nov 2010 25:00:00 GMT")))
        ngx.say(tostring(ngx.parse_http_time("Thu, 18 Nov 2010 11:60:00 GMT")))
    } }
--- request
GET /t
--- response_body
nil
nil
nil

=== TEST 19: ngx.http_time and cookie_time of the epoch
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.http_time(0))
        ngx.say(ngx.cookie_time(0))
    } }
--- request
GET /t
--- response_body
Thu, 01 Jan 1970 00:00:00 GMT
Thu, 01-Jan-70 00:00:00 GMT

=== TEST 20: ngx.today, ngx.localtime and ngx.utctime shapes
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.today():match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil)
        ngx.say(ngx.localtime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil)
        ngx.say(ngx.utctime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil)
    } }
--- request
GET /t
--- response_body
true
true
true

=== TEST 21: ngx.now has millisecond resolution and follows update_time
--- config
    location = /t { content_by_lua_block {
        local t0 = ngx.now()
        ngx.update_time()
        local t1 = ngx.now()
        ngx.say(t1 >= t0, " ", math.abs(t1 - ngx.time()) < 2)
        ngx.say(t0 * 1000 == math.floor(t0 * 1000 + 0.5))
    } }
--- request
GET /t
--- response_body
true true
true

=== TEST 22: ngx.req.start_time is at or before now
--- config
    location = /t { content_by_lua_block {
        ngx.say(ngx.req.start_time() <= ngx.now())
    } }
--- request
GET /t
--- response_body
true

=== TEST 23: errors from the API caught by pcall, xpcall and coroutine.resume are strings
--- config
    location = /t { content_by_lua_block {
        local ok, err = pcall(ngx.encode_args, "x")
        ngx.say(type(err), ": ", err)
        xpcall(ngx.encode_args, function(e) ngx.say(type(e), ": ", e) end, "x")
        local co = coroutine.create(function() ngx.encode_args("x") end)
        ok, err = coroutine.resume(co)
        ngx.say(ok, " ", type(err), ": ", err)
        ok, err = pcall(error, {code = 1})
        ngx.say(type(err), " ", err.code)
    } }
--- request
GET /t
--- response_body
string: bad argument #1 to 'encode_args' (table expected, got string)
string: bad argument #1 to 'encode_args' (table expected, got string)
false string: bad argument #1 to 'encode_args' (table expected, got string)
table 1

=== TEST 24: ngx.base64 functions report a non-string argument
--- config
    location = /t { content_by_lua_block {
        local b64 = require "ngx.base64"
        ngx.say(b64.encode_base64url(12))
        ngx.say(b64.decode_base64url(nil))
    } }
--- request
GET /t
--- response_body
nilmust provide a string
nilmust provide a string

=== TEST 25: the args limit counts every piece ended by "&", empty keys too
--- config
    location = /t {
        content_by_lua_block {
            local function keys(t)
                local k = {}
                for name in pairs(t) do k[#k + 1] = name end
                table.sort(k)
                return table.concat(k, ",")
            end
            local a, e1 = ngx.decode_args("x=1&=skip&y=2", 2)
            local b, e2 = ngx.decode_args("x=1&y=2", 2)
            local c, e3 = ngx.decode_args("x=1&y=2&", 2)
            local d, e4 = ngx.req.get_uri_args(1)
            ngx.say(keys(a), " ", e1, "; ", keys(b), " ", e2, "; ", keys(c), " ", e3, "; ", keys(d), " ", e4)
        }
    }
--- request
GET /t?first&second=2
--- response_body
x truncated; x,y nil; x,y truncated; first truncated

=== TEST 26: encode_args keeps a key's values in their order, booleans included
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_args({ k = { "z", true, "a", false, 3 } }))
            ngx.req.set_uri_args({ m = { 9, true, 1 } })
            ngx.say(ngx.var.args)
        }
    }
--- request
GET /t
--- response_body
k=z&k&k=a&k=3
m=9&m&m=1

=== TEST 27: escape_uri: a component by default (!*'() kept, as OpenResty), a whole URI with type 0
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.escape_uri("it's (a) *test*!"))
            ngx.say(ngx.escape_uri("/path with space/?q=1#top", 0))
            ngx.say(ngx.escape_uri("/p?q", 2))
            ngx.say(ngx.encode_args({ ["k(1)"] = "v!" }))
            ngx.say(select(2, pcall(ngx.escape_uri, "x", 1)))
        }
    }
--- request
GET /t
--- response_body
it's%20(a)%20*test*!
/path%20with%20space/%3Fq=1%23top
%2Fp%3Fq
k(1)=v!
bad argument #2 to 'escape_uri' (0 or 2 expected, got 1)
