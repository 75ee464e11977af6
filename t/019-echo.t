# The echo module's content commands (bundled with OpenResty).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: echo joins its words, ends with a newline; -n does not
--- config
    location = /t {
        echo hello world;
        echo -n "no newline";
        echo;
        echo -- -n;
    }
--- request
GET /t
--- response_body
hello world
no newline
-n

=== TEST 2: variables, echo_status, default_type
--- config
    location = /t {
        default_type text/css;
        echo_status 201;
        echo "uri=$uri args=$args";
    }
--- request
GET /t?a=1
--- error_code: 201
--- response_headers
Content-Type: text/css
Transfer-Encoding: chunked
--- response_body
uri=/t args=a=1

=== TEST 3: echo_duplicate
--- config
    location = /t {
        echo_duplicate 3 "ab";
        echo_duplicate 0 "never";
        echo;
    }
--- request
GET /t
--- response_body
ababab

=== TEST 4: echo_sleep waits without blocking, echo_flush sends what is there
--- config
    location = /t {
        echo before;
        echo_flush;
        echo_sleep 0.1;
        echo after;
    }
--- request
GET /t
--- response_body
before
after

=== TEST 5: echo_exec jumps to another location, with arguments
--- config
    location = /t {
        echo_exec /target "a=1&b=2";
    }
    location = /target {
        echo "at $uri with $args";
    }
--- request
GET /t
--- response_body
at /target with a=1&b=2

=== TEST 6: echo_exec to a named location
--- config
    location = /t {
        echo_exec @named;
    }
    location @named {
        echo named;
    }
--- request
GET /t
--- response_body
named

=== TEST 7: a HEAD request gets only the headers
--- config
    location = /t {
        echo hello;
    }
--- request
HEAD /t
--- response_body

=== TEST 8: echo in a location if
--- config
    location = /t {
        if ($arg_x) {
            echo "x is $arg_x";
        }
        echo "no x";
    }
--- pipelined_requests eval
["GET /t?x=1", "GET /t"]
--- response_body eval
["x is 1\n", "no x\n"]

=== TEST 9: a bad time is refused at startup
--- config
    location = /t {
        echo_sleep soon;
    }
--- must_die
--- error_log
invalid time value "soon"

=== TEST 10: echo_duplicate with a count that is not a number: 500
--- config
    location = /t {
        echo_duplicate $arg_n "x";
    }
--- request
GET /t?n=abc
--- error_code: 500
--- error_log
echo_duplicate: invalid count
