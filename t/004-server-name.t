# server_name selection among servers on one address.

use Test::Nginx::Socket 'no_plan';

# (every block's config has its own `location /`)
no_root_location();

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: exact name
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name foo.example.com;
        location / { return 200 "foo\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: foo.example.com
--- response_body
foo

=== TEST 2: leading wildcard
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name *.example.com;
        location / { return 200 "wild\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: a.b.example.com
--- response_body
wild

=== TEST 3: trailing wildcard
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name www.example.*;
        location / { return 200 "trailing\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: www.example.org
--- response_body
trailing

=== TEST 4: dot name matches the bare domain
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name .example.net;
        location / { return 200 "dot\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: example.net
--- response_body
dot

=== TEST 5: regex name
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name ~^api\d+\.example\.com$;
        location / { return 200 "regex\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: api42.example.com
--- response_body
regex

=== TEST 6: exact beats wildcard beats regex
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name ~^a\.;
        location / { return 200 "regex\n"; }
    }
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name *.example.com;
        location / { return 200 "wild\n"; }
    }
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name a.example.com;
        location / { return 200 "exact\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: a.example.com
--- response_body
exact

=== TEST 7: unknown host goes to the first server on the address
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name first.example.com;
        location / { return 200 "first\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: unknown.example.com
--- response_body
first

=== TEST 8: default_server wins for unknown hosts
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name first.example.com;
        location / { return 200 "first\n"; }
    }
    server {
        listen $TEST_NGINX_SERVER_PORT default_server;
        server_name other.example.com;
        location / { return 200 "default_server\n"; }
    }
--- config
    location / { return 200 "test server\n"; }
--- request
GET /
--- more_headers
Host: nobody.example.com
--- response_body
default_server

=== TEST 9: host matching ignores case and port
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name foo.example.com;
        location / { return 200 "foo\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: FOO.Example.COM:1234
--- response_body
foo

=== TEST 10: $host is the lowercased Host without port
--- config
    location / { return 200 "$host\n"; }
--- request
GET /
--- more_headers
Host: MiXeD.example.com:99
--- response_body
mixed.example.com

=== TEST 11: absolute-form request target selects the server
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name abs.example.com;
        location / { return 200 "abs $uri\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET http://abs.example.com/p?q=1
--- response_body
abs /p

=== TEST 12: invalid server name wildcard
--- config
    server_name a*b.com;
--- must_die
--- error_log
invalid server name or wildcard "a*b.com"

=== TEST 13: $server_name is the first name of the chosen server
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name one.example.com two.example.com;
        location / { return 200 "$server_name\n"; }
    }
--- config
    location / { return 200 "default\n"; }
--- request
GET /
--- more_headers
Host: two.example.com
--- response_body
one.example.com
