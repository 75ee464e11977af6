# expires: Expires and Cache-Control for successful responses.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a time after the request
--- config
    location = /t {
        expires 1h;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Cache-Control: max-age=3600
--- response_headers_like
Expires: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT

=== TEST 2: a negative time: no-cache, an Expires in the past
--- config
    location = /t {
        expires -1;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Cache-Control: no-cache

=== TEST 3: epoch and max
--- config
    location = /epoch {
        expires epoch;
        return 200 "ok\n";
    }
    location = /max {
        expires max;
        return 200 "ok\n";
    }
--- pipelined_requests eval
["GET /epoch", "GET /max"]
--- response_headers eval
["", "Expires: Thu, 31 Dec 2037 23:55:55 GMT\nCache-Control: max-age=315360000\n"]

=== TEST 4: epoch
--- config
    location = /epoch {
        expires epoch;
        return 200 "ok\n";
    }
--- request
GET /epoch
--- response_headers
Expires: Thu, 01 Jan 1970 00:00:01 GMT
Cache-Control: no-cache

=== TEST 5: inherited, and turned off in a location; not for error statuses
--- config
    expires 30d;
    location = /off {
        expires off;
        return 200 "ok\n";
    }
    location = /missing {
        return 404;
    }
    location = /on {
        return 200 "ok\n";
    }
--- pipelined_requests eval
["GET /off", "GET /missing", "GET /on"]
--- response_headers eval
["", "", "Cache-Control: max-age=2592000\n"]
--- error_code eval
[200, 404, 200]

=== TEST 6: expires off and error statuses set nothing
--- config
    expires 30d;
    location = /off {
        expires off;
        return 200 "ok\n";
    }
--- request
GET /off
--- response_headers
!Cache-Control
!Expires

=== TEST 7: a 404 gets no Expires
--- config
    location = /missing {
        expires 1d;
        return 404;
    }
--- request
GET /missing
--- error_code: 404
--- response_headers
!Cache-Control
!Expires

=== TEST 8: modified: counted from the file's Last-Modified
--- config
    location ~ ^/ {
        expires modified 1h;
    }
--- user_files
>>> page.html
hello
--- request
GET /page.html
--- response_headers_like
Cache-Control: max-age=3[0-9]{3}

=== TEST 9: a daily time: the next such time of day
--- config
    location = /t {
        expires @3h30m;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
Cache-Control: max-age=[1-9][0-9]*

=== TEST 10: a variable, from a map
--- http_config
    map $uri $exp {
        default  off;
        ~\.css$  30d;
    }
--- config
    location ~ ^/ {
        expires $exp;
        return 200 "ok\n";
    }
--- pipelined_requests eval
["GET /a.txt", "GET /a.css"]
--- response_headers eval
["", "Cache-Control: max-age=2592000\n"]

=== TEST 11: expires replaces a Cache-Control Lua set
--- config
    location = /t {
        expires 10s;
        content_by_lua_block { ngx.header.cache_control = "private" ngx.say("ok") }
    }
--- request
GET /t
--- response_headers
Cache-Control: max-age=10

=== TEST 12: a value that is not a time is refused at startup
--- config
    location = /t {
        expires soon;
    }
--- must_die
--- error_log
invalid value "soon"

=== TEST 13: a daily time is within a day
--- config
    location = /t {
        expires @25h;
    }
--- must_die
--- error_log
daily time value must be less than 24 hours
