# Debian's lua-nginx-string: `to_hex` and `atoi` call nginx's own C functions through the
# FFI (oxiresty exports them); its digest, AES and random modules call OpenSSL's
# libcrypto and come with the TLS work.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: to_hex and atoi
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local str = require "nginx.string"
            ngx.say(str.to_hex("hello\0\255"))
            ngx.say(str.to_hex(ngx.md5_bin("x")) == ngx.md5("x"))
            ngx.say(str.to_hex(""))
            ngx.say(str.atoi("42"), " ", str.atoi("4x2"))
        }
    }
--- request
GET /t
--- response_body
68656c6c6f00ff
true

42 -1
--- no_error_log
[error]
