# HTTP/1.x framing: keepalive, pipelining, bodies, and refusals of ambiguous input.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: pipelined requests on one connection
--- config
    location /t { return 200 "$uri\n"; }
--- pipelined_requests eval
["GET /t/1", "GET /t/2", "GET /t/3"]
--- response_body eval
["/t/1\n", "/t/2\n", "/t/3\n"]

=== TEST 2: keepalive response header; the next request on the connection is served
--- http_config
    log_format conn '$request $status conn_req=$connection_requests';
--- config
    access_log logs/error.log conn;
    location ~ ^/ { return 200 "ok\n"; }
--- raw_request eval
"GET /a HTTP/1.1\r\nHost: localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_headers
Connection: keep-alive
--- response_body
ok
--- error_log
GET /a HTTP/1.1 200 conn_req=1
GET /b HTTP/1.1 200 conn_req=2

=== TEST 3: HTTP/1.0 closes by default
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- response_headers
Connection: close
--- response_body
ok

=== TEST 4: HTTP/1.0 keep-alive on request
--- http_config
    log_format conn '$request $status conn_req=$connection_requests';
--- config
    access_log logs/error.log conn;
    location ~ ^/ { return 200 "ok\n"; }
--- raw_request eval
"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n"
--- response_headers
Connection: keep-alive
--- response_body
ok
--- error_log
GET /a HTTP/1.0 200 conn_req=1
GET /b HTTP/1.0 200 conn_req=2

=== TEST 5: a body by Content-Length is consumed before the next request
--- http_config
    log_format conn '$request $status conn_req=$connection_requests';
--- config
    access_log logs/error.log conn;
    location ~ ^/ { return 200 "ok\n"; }
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
ok
--- error_log
POST /a HTTP/1.1 200 conn_req=1
GET /b HTTP/1.1 200 conn_req=2

=== TEST 6: a chunked body is consumed before the next request
--- http_config
    log_format conn '$request $status conn_req=$connection_requests';
--- config
    access_log logs/error.log conn;
    location ~ ^/ { return 200 "ok\n"; }
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
ok
--- error_log
POST /a HTTP/1.1 200 conn_req=1
GET /b HTTP/1.1 200 conn_req=2

=== TEST 7: Content-Length with Transfer-Encoding is refused
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
--- error_code: 400
--- response_headers
Connection: close
--- error_log
client sent "Content-Length" and "Transfer-Encoding" headers at the same time

=== TEST 8: two different Content-Length headers are refused
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
--- error_code: 400
--- error_log
client sent duplicate header line

=== TEST 9: an invalid Content-Length is refused
--- config
    # (the server alone)
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5x\r\n\r\nhello"
--- error_code: 400

=== TEST 10: a bad chunk size is refused
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
--- error_code: 400

=== TEST 11: an unknown transfer coding is 501
--- config
    # (the server alone)
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n"
--- error_code: 501

=== TEST 12: obs-fold header continuation is refused
--- config
    # (the server alone)
--- raw_request eval
"GET / HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n  folded\r\n\r\n"
--- error_code: 400

=== TEST 13: a bad byte in a header name is refused
--- config
    # (the server alone)
--- raw_request eval
"GET / HTTP/1.1\r\nHost: localhost\r\nX\x01A: a\r\n\r\n"
--- error_code: 400

=== TEST 14: HTTP/1.1 without Host is refused
--- config
    # (the server alone)
--- raw_request eval
"GET / HTTP/1.1\r\n\r\n"
--- error_code: 400
--- error_log
client sent HTTP/1.1 request without "Host" header

=== TEST 15: two Host headers are refused
--- config
    # (the server alone)
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
--- error_code: 400

=== TEST 16: an invalid Host is refused
--- config
    # (the server alone)
--- raw_request eval
"GET / HTTP/1.1\r\nHost: ../x\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid host header

=== TEST 17: a too long URI is 414
--- config
    # (the server alone)
--- raw_request eval
"GET /" . ("a" x 9000) . " HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 414
--- response_body_like: 414 Request-URI Too Large

=== TEST 18: a too long header line is 400 Request Header Or Cookie Too Large
--- config
    # (the server alone)
--- raw_request eval
"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " . ("b" x 9000) . "\r\n\r\n"
--- error_code: 400
--- response_body_like: Request Header Or Cookie Too Large

=== TEST 19: large_client_header_buffers raises the limit
--- config
    large_client_header_buffers 4 16k;
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Big: " . ("b" x 9000) . "\r\n\r\n"
--- response_body
ok

=== TEST 20: Expect: 100-continue gets an interim response
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
--- error_code: 100
--- response_body_like: ^HTTP/1\.1 200 OK\r\n.*Content-Length: 3\r\n.*\r\n\r\nok\n$

=== TEST 21: a declared body over client_max_body_size is 413
--- config
    location = /t { client_max_body_size 10; return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello world"
--- error_code: 413
--- error_log
client intended to send too large body: 11 bytes

=== TEST 22: a chunked body over client_max_body_size is 413 where it is read
--- config
    location = /t {
        client_max_body_size 10;
        content_by_lua_block { ngx.req.read_body() ngx.say("read") }
    }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
--- error_code: 413
--- error_log
client intended to send too large chunked body

=== TEST 22b: ... and not where it is thrown away (return answers at once, as nginx)
--- config
    location = /t { client_max_body_size 10; return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
--- response_body
ok
--- no_error_log
too large

=== TEST 23: client_max_body_size 0 disables the check
--- config
    location = /t { client_max_body_size 0; return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world"
--- response_body
ok

=== TEST 24: keepalive_requests ends the connection
--- config
    keepalive_requests 1;
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- response_headers
Connection: close
--- response_body
ok

=== TEST 25: keepalive_timeout 0 disables keepalive
--- config
    keepalive_timeout 0;
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- response_headers
Connection: close

=== TEST 27: a body that stops early times out with 408 where it is read
--- config
    client_body_timeout 200ms;
    location = /t { content_by_lua_block { ngx.req.read_body() ngx.say("read") } }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nhello"
--- error_code: 408
--- error_log
client timed out

=== TEST 27b: a body nobody reads does not hold the answer back (return, static files, as nginx); it is waited for as long as lingering_timeout
--- config
    lingering_timeout 200ms;
    location = /t { return 200 "ok\n"; }
--- user_files
>>> f.txt
file
--- request eval
["POST /t\nhel", "POST /f.txt\nhel"]
--- more_headers
Content-Length: 10
--- error_code eval
[200, 405]
--- response_body_like eval
["^ok\n\$", "405 Not Allowed"]

=== TEST 28: a lowercase method is refused
--- config
    # (the server alone)
--- raw_request eval
"get / HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 400

=== TEST 29: headers with underscores are ignored by default
--- config
    location = /t { return 200 "[$http_x_foo]\n"; }
--- request
GET /t
--- more_headers
X_Foo: bar
--- response_body
[]

=== TEST 30: underscores_in_headers on keeps them
--- config
    underscores_in_headers on;
    location = /t { return 200 "[$http_x_foo]\n"; }
--- request
GET /t
--- more_headers
X_Foo: bar
--- response_body
[bar]

=== TEST 31: a request split over many packets still parses
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
ok

=== TEST 32: empty lines before the request line are skipped
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
ok

=== TEST 33: chunked response for HTTP/1.1 when length is unknown
--- config
    # (the server alone)
--- user_files
>>> a.txt
abc
--- request
GET /a.txt
--- response_headers
Content-Length: 4

=== TEST 34: request_length and connection_requests
--- config
    location = /t { return 200 "$connection_requests\n"; }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["1\n", "2\n"]

=== TEST 35: an absolute URI target with a bad scheme is refused
--- config
    # (the server alone)
--- raw_request eval
"GET ftp://x/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 400

=== TEST 36: a NUL byte escaped in the path is refused
--- config
    # (the server alone)
--- raw_request eval
"GET /a%00b HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- error_code: 400
