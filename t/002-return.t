# return: status, text, redirects, variables, server level.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: return a bare status
--- config
    location = /t { return 403; }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden
--- response_headers
Content-Type: text/html

=== TEST 2: return text with variables
--- config
    location = /t { return 200 "uri=$uri args=$args a=$arg_a host=$host method=$request_method\n"; }
--- request
GET /t?a=1&b=2
--- response_body
uri=/t args=a=1&b=2 a=1 host=localhost method=GET

=== TEST 3: return 302 with a URL
--- config
    location = /t { return 302 http://example.com/x; }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: http://example.com/x
--- response_body_like: <title>302 Found</title>

=== TEST 4: return a URL alone means 302
--- config
    location = /t { return https://example.com/; }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: https://example.com/

=== TEST 5: relative redirect is made absolute
--- config
    location = /t { return 301 /other; }
--- request
GET /t
--- error_code: 301
--- response_headers_like
Location: http://localhost:\d+/other

=== TEST 6: return 444 closes without a response
--- config
    location = /t { return 444; }
--- request
GET /t
--- ignore_response

=== TEST 7: server-level return wins over locations
--- config
    return 200 "server level\n";
    location = /t { return 200 "location\n"; }
--- request
GET /t
--- response_body
server level

=== TEST 8: return with a custom status and text
--- config
    location = /t { return 418 "teapot\n"; }
--- request
GET /t
--- error_code: 418
--- response_body
teapot

=== TEST 9: default_type applies to return text
--- config
    location = /t {
        default_type application/json;
        return 200 '{"a":1}';
    }
--- request
GET /t
--- response_headers
Content-Type: application/json
--- response_body chomp
{"a":1}

=== TEST 10: HEAD gets headers only
--- config
    location = /t { return 200 "hello\n"; }
--- request
HEAD /t
--- response_headers
Content-Length: 6
--- response_body

=== TEST 11: return 204 has no body and no length
--- config
    location = /t { return 204; }
--- request
GET /t
--- error_code: 204
--- response_headers
!Content-Length
--- response_body

=== TEST 12: Server header with server_tokens on
--- config
    location = /t { return 200; }
--- request
GET /t
--- response_headers_like
Server: oxiresty/\d+\.\d+\.\d+

=== TEST 13: server_tokens off
--- config
    server_tokens off;
    location = /t { return 404; }
--- request
GET /t
--- error_code: 404
--- response_headers
Server: oxiresty
--- response_body_like: <hr><center>oxiresty</center>

=== TEST 14: Date header is present
--- config
    location = /t { return 200; }
--- request
GET /t
--- response_headers_like
Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT

=== TEST 15: error page body shape
--- config
    location = /t { return 500; }
--- request
GET /t
--- error_code: 500
--- response_body eval
"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>oxiresty/1.27.1</center>\r\n</body>\r\n</html>\r\n"

=== TEST 16: variables: request, server_protocol, request_uri, is_args
--- config
    location = /t { return 200 "$request|$server_protocol|$request_uri|$is_args|$scheme\n"; }
--- request
GET /t?x=%20y
--- response_body
GET /t?x=%20y HTTP/1.1|HTTP/1.1|/t?x=%20y|?|http

=== TEST 17: http_ and cookie_ variables
--- config
    location = /t { return 200 "$http_user_agent|$http_x_foo_bar|$cookie_b|$cookie_none.\n"; }
--- request
GET /t
--- more_headers
User-Agent: tester/1
X-Foo-Bar: baz
Cookie: a=1; b=2
--- response_body
tester/1|baz|2|.

=== TEST 18: ${var} braces
--- config
    location = /t { return 200 "${uri}x\n"; }
--- request
GET /t
--- response_body
/tx

=== TEST 19: decoded uri variable, raw request_uri
--- config
    location /t { return 200 "$uri $request_uri\n"; }
--- request
GET /t/a%20b/../c
--- response_body
/t/c /t/a%20b/../c
