# Debian's lua-nginx-string: `to_hex` and `atoi` call nginx's own C functions through the
# FFI; its digest, AES and random modules call OpenSSL's libcrypto. oxiresty exports both
# (build.rs keeps every libcrypto and libssl function in the binary).

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


=== TEST 2: md5, sha1, sha224, sha256, sha384, sha512 on libcrypto, fed in pieces
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local str = require "nginx.string"
            for _, name in ipairs{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"} do
                local h = require("nginx." .. name):new()
                assert(h:update("he"))
                assert(h:update("llo"))
                ngx.say(name, " ", str.to_hex(h:final()))
            end
        }
    }
--- request
GET /t
--- response_body
md5 5d41402abc4b2a76b9719d911017c592
sha1 aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d
sha224 ea09ae9cc6768c50fcee903ed054556e5bfc8347907f12598aa24193
sha256 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
sha384 59e1748777448c69de6b800d7a33bbfb9ff1b463e44354c3553bcdb9c666fa90125a3c79f90397bdf5f6a13de828684f
sha512 9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043
--- no_error_log
[error]



=== TEST 3: AES: the same bytes as `openssl enc -nosalt` (EVP_BytesToKey), and back
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local aes = require "nginx.aes"
            local str = require "nginx.string"
            local a = aes:new("secret")
            local enc = a:encrypt("hello")
            ngx.say("128-cbc md5: ", str.to_hex(enc), " ", a:decrypt(enc))
            local b = aes:new("secret", nil, aes.cipher(256, "cbc"), aes.hash.sha256)
            enc = b:encrypt("hello")
            ngx.say("256-cbc sha256: ", str.to_hex(enc), " ", b:decrypt(enc))
            ngx.say("wrong key: ", aes:new("other"):decrypt(a:encrypt("hello")))
        }
    }
--- request
GET /t
--- response_body
128-cbc md5: 7b47a4dbb11e2cddb2f3740c9e3a552b hello
256-cbc sha256: 91558cb0f73a4f0fa9ed56c042eddc21 hello
wrong key: nil



=== TEST 4: random bytes, strong and not
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local random = require "nginx.random"
            local a, b = random.bytes(16, true), random.bytes(16)
            ngx.say(#a, " ", #b, " ", a ~= b, " ", random.bytes(16, true) ~= a)
        }
    }
--- request
GET /t
--- response_body
16 16 true true
--- no_error_log
[error]
