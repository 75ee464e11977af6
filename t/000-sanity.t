# The basic request cycle: return, status pages, keepalive framing.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: return with text
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- response_headers
Content-Type: text/plain
Content-Length: 6
--- no_error_log
[error]

=== TEST 2: unknown location gives nginx's 404 page
--- config
    # (the server alone)
--- request
GET /nope
--- error_code: 404
--- response_body_like: <title>404 Not Found</title>
--- error_log
open() "
