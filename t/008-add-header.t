# add_header: statuses, always, inheritance, variables.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: add_header on a 200
--- config
    location = /t { add_header X-Test hello; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-Test: hello

=== TEST 2: add_header skips error statuses
--- config
    location = /t { add_header X-Test hello; return 404; }
--- request
GET /t
--- error_code: 404
--- response_headers
!X-Test

=== TEST 3: add_header always applies to errors too
--- config
    location = /t { add_header X-Test hello always; return 404; }
--- request
GET /t
--- error_code: 404
--- response_headers
X-Test: hello

=== TEST 4: add_header with variables
--- config
    location = /t { add_header X-Uri "u=$uri"; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-Uri: u=/t

=== TEST 5: add_header is inherited only when the level has none
--- config
    add_header X-Server s;
    location = /a { return 200 "a\n"; }
    location = /b { add_header X-Loc l; return 200 "b\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_headers eval
["", "X-Loc: l\n!X-Server\n"]

=== TEST 6: add_header inherited from the server
--- config
    add_header X-Server s;
    location = /a { return 200 "a\n"; }
--- request
GET /a
--- response_headers
X-Server: s

=== TEST 7: an empty value adds nothing
--- config
    location = /t { add_header X-Empty ""; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
!X-Empty

=== TEST 8: add_header on a static file and a redirect
--- config
    location /d { add_header X-R yes; }
--- user_files
>>> d/index.html
x
--- request
GET /d
--- error_code: 301
--- response_headers
X-R: yes

=== TEST 9: bad third parameter
--- config
    add_header X-A b sometimes;
--- must_die
--- error_log
invalid parameter "sometimes"
