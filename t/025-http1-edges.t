# HTTP/1.x edge cases answered as nginx answers them (each block passes under Debian's
# nginx 1.22 too).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: HTTP/1.9 is read as HTTP/1.1, its number kept
--- config
    location = /t { return 200 "$server_protocol\n"; }
--- raw_request eval
"GET /t HTTP/1.9\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
HTTP/1.9

=== TEST 2: HTTP/2.0 and three-digit majors on HTTP/1 are 505
--- config
    location = /t { return 200 "ok\n"; }
--- request eval
["GET /t HTTP/2.0", "GET /t HTTP/100.1"]
--- error_code eval
[505, 505]

=== TEST 3: several spaces between the request line's parts
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET   /t    HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
ok

=== TEST 4: a #fragment is no part of the URI
--- config
    location = /t { return 200 "[$uri] [$args]\n"; }
--- raw_request eval
"GET /t?a=1#frag HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body
[/t] [a=1]

=== TEST 5: an absolute URI does not stand in for the Host header of HTTP/1.1; with one, its host wins
--- config
    location = /t { return 200 "$host\n"; }
--- request eval
["GET http://example.com/t HTTP/1.1", "GET http://example.com/t"]
--- more_headers eval
["Host:", "Host: other.test"]
--- error_code eval
[400, 200]
--- response_body_like eval
["400 Bad Request", "^example\\.com\\n\$"]

=== TEST 6: a Host with a space in it is refused
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid host header

=== TEST 7: Expect: 100-continue without a body still gets its interim answer before a return
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
--- error_code: 100
--- response_body_like: ^HTTP/1\.1 200 OK\r\n.*\r\n\r\nok\n$

=== TEST 8: a request line whose method can never be one is refused before it ends
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"hello"
--- error_code: 400

=== TEST 9: header lines with odd bytes in their names are ignored; spaces or controls there are refused
--- config
    location = /t { return 200 "[$http_x_a]\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX\@Y: 1\r\nNoColon\r\nX-A: kept\r\nConnection: close\r\n\r\n"
--- response_body
[kept]

=== TEST 10: a space inside a header name is a bad request
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nX Y: 1\r\nConnection: close\r\n\r\n"
--- error_code: 400

=== TEST 11: an HTTP/0.9 request is answered with the bare body (and names no protocol)
--- config
    location = /t { return 200 "[$server_protocol]\n"; }
--- raw_request eval
"GET /t\r\n"
--- http09
--- response_body
[]

=== TEST 12: HTTP/0.9 knows only GET
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t\r\n"
--- http09
--- response_body_like: 400 Bad Request
--- error_log
client sent invalid method in HTTP/0.9 request
