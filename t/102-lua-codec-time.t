# Codecs, hashes and time functions (FFI-backed where hot).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: md5, md5_bin, sha1_bin, hmac_sha1, crc32
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.md5("hello"))
            ngx.say(#ngx.md5_bin("hello"), " ", #ngx.sha1_bin("hello"))
            ngx.say(ngx.encode_base64(ngx.sha1_bin("hello")))
            ngx.say(ngx.encode_base64(ngx.hmac_sha1("key", "The quick brown fox jumps over the lazy dog")))
            ngx.say(ngx.crc32_short("hello"), " ", ngx.crc32_long("hello"))
            ngx.say(ngx.md5(nil), " ", ngx.md5(42))
        }
    }
--- request
GET /t
--- response_body
5d41402abc4b2a76b9719d911017c592
16 20
qvTGHdzF6KLavt4PO0gs2a6pQ00=
3nybhbi3iqa8ino29wqQcBydtNk=
907060870 907060870
d41d8cd98f00b204e9800998ecf8427e a1d0c6e83f027327d8461063f4ac58a6

=== TEST 2: base64 round trips, padding, bad input
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.encode_base64("hello"), " ", ngx.encode_base64("hello", true))
            ngx.say(ngx.decode_base64("aGVsbG8="), " ", ngx.decode_base64("aGVsbG8"))
            ngx.say(ngx.decode_base64("!!!"))
            ngx.say(ngx.encode_base64(""), "|", ngx.decode_base64(""))
            local b64 = require "ngx.base64"
            ngx.say(b64.encode_base64url("\255\254\253"), " ", b64.decode_base64url("__79") == "\255\254\253")
        }
    }
--- request
GET /t
--- response_body
aGVsbG8= aGVsbG8
hello hello
nil
|
__79 true

=== TEST 3: encode_base64 encodes any value's text, as lua-resty-core (nil and false: "")
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("[", ngx.encode_base64(nil), "][", ngx.encode_base64(false), "]")
            ngx.say(ngx.encode_base64(123), " ", ngx.encode_base64(true))
            local t = {}
            ngx.say(ngx.decode_base64(ngx.encode_base64(t)) == tostring(t))
        }
    }
--- request
GET /t
--- response_body
[][]
MTIz dHJ1ZQ==
true

=== TEST 4: escape_uri and unescape_uri
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.escape_uri("a b/c?d=é~"))
            ngx.say(ngx.unescape_uri("a%20b%2Fc+d%zz"))
            ngx.say(ngx.escape_uri(nil), "|", ngx.escape_uri(12))
        }
    }
--- request
GET /t
--- response_body
a%20b%2Fc%3Fd%3D%C3%A9~
a b/c d%zz
|12

=== TEST 5: quote_sql_str
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.quote_sql_str("it's \"q\"\n\\"))
        }
    }
--- request
GET /t
--- response_body
'it\'s \"q\"\n\\'

=== TEST 6: ngx.now, ngx.time, today, localtime, utctime
--- config
    location = /t {
        content_by_lua_block {
            local now, t = ngx.now(), ngx.time()
            ngx.say(math.abs(now - t) < 2, " ", now > 1700000000)
            ngx.say(ngx.today():match("^%d%d%d%d%-%d%d%-%d%d$") ~= nil)
            ngx.say(ngx.localtime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil)
            ngx.say(ngx.utctime():match("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$") ~= nil)
        }
    }
--- request
GET /t
--- response_body
true true
true
true
true

=== TEST 7: http_time, cookie_time, parse_http_time
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.http_time(1290079655))
            ngx.say(ngx.cookie_time(1290079655))
            ngx.say(ngx.parse_http_time("Thu, 18 Nov 2010 11:27:35 GMT"))
            ngx.say(ngx.parse_http_time("not a date"))
        }
    }
--- request
GET /t
--- response_body
Thu, 18 Nov 2010 11:27:35 GMT
Thu, 18-Nov-10 11:27:35 GMT
1290079655
nil
