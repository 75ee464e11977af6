# echo's subrequest commands, on the subrequest machinery: echo_location(_async),
# echo_subrequest(_async), echo_read_request_body, echo_request_body.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: echo_location and echo_location_async keep their output's place
--- config
    location = /sub {
        echo "sub $arg_n";
    }
    location = /t {
        echo "before";
        echo_location /sub "n=1";
        echo_location_async /sub?n=2;
        echo "after";
    }
--- request
GET /t
--- response_body
before
sub 1
sub 2
after
--- no_error_log
[error]

=== TEST 2: echo_subrequest with a method, a query and a body; the main request's body ($request_method is the main request's, as nginx's)
--- config
    location = /sub {
        echo_read_request_body;
        echo "$request_method $arg_q:";
        echo_request_body;
        echo;
    }
    location = /t {
        echo_read_request_body;
        echo_subrequest POST /sub -q q=1 -b "sub body";
        echo_subrequest_async PUT /sub -b "put body";
        echo "main body:";
        echo_request_body;
        echo;
    }
--- request
POST /t
main request body
--- response_body
POST 1:
sub body
POST :
put body
main body:
main request body
--- no_error_log
[error]
