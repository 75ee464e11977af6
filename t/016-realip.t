# realip: the client address from a trusted proxy's header.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: X-Real-IP from a trusted proxy replaces the client address
--- config
    set_real_ip_from 127.0.0.1;
    location = /t {
        return 200 "$remote_addr [$remote_port] $realip_remote_addr $binary_remote_addr\n";
    }
--- request
GET /t
--- more_headers
X-Real-IP: 1.2.3.4
--- response_body_like: ^1\.2\.3\.4 \[\] 127\.0\.0\.1 \x01\x02\x03\x04$

=== TEST 2: an untrusted peer's header changes nothing
--- config
    set_real_ip_from 10.0.0.0/8;
    location = /t {
        return 200 "$remote_addr\n";
    }
--- request
GET /t
--- more_headers
X-Real-IP: 1.2.3.4
--- response_body
127.0.0.1

=== TEST 3: X-Forwarded-For: the last address
--- config
    set_real_ip_from 127.0.0.1;
    set_real_ip_from 10.0.0.0/8;
    real_ip_header X-Forwarded-For;
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.remote_addr) }
    }
--- request
GET /t
--- more_headers
X-Forwarded-For: 9.9.9.9, 8.8.8.8, 10.0.0.1
--- response_body
10.0.0.1

=== TEST 4: real_ip_recursive walks past the trusted proxies
--- config
    set_real_ip_from 127.0.0.1;
    set_real_ip_from 10.0.0.0/8;
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    location = /t {
        content_by_lua_block { ngx.say(ngx.var.remote_addr) }
    }
--- request
GET /t
--- more_headers
X-Forwarded-For: 9.9.9.9, 8.8.8.8, 10.0.0.1
--- response_body
8.8.8.8

=== TEST 5: a value that is not an address changes nothing
--- config
    set_real_ip_from 127.0.0.1;
    location = /t {
        return 200 "$remote_addr\n";
    }
--- request
GET /t
--- more_headers
X-Real-IP: not-an-ip
--- response_body
127.0.0.1

=== TEST 6: access rules see the real address
--- config
    set_real_ip_from 127.0.0.1;
    location = /t {
        deny 1.2.3.4;
        content_by_lua_block { ngx.say("in") }
    }
--- request
GET /t
--- more_headers
X-Real-IP: 1.2.3.4
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 7: at the location level, with another header
--- config
    location = /t {
        set_real_ip_from 127.0.0.0/8;
        real_ip_header X-Client;
        content_by_lua_block { ngx.say(ngx.var.remote_addr, " ", ngx.var.realip_remote_addr) }
    }
--- request
GET /t
--- more_headers
X-Client: 2001:db8::1
--- response_body
2001:db8::1 127.0.0.1

=== TEST 8: all is not a proxy
--- config
    set_real_ip_from all;
--- must_die
--- error_log
invalid parameter "all"

=== TEST 9: proxy_protocol is not there yet, and says so
--- config
    real_ip_header proxy_protocol;
--- must_die
--- error_log
real_ip_header proxy_protocol is not supported yet
