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



=== TEST 3: the async forms run together; their output and what follows keep their places
--- config
    location /slow {
        echo_sleep 0.5;
        echo "slow $arg_n";
    }
    location = /t {
        echo_location_async /slow n=1;
        echo between;
        echo_subrequest_async GET /slow -q n=2;
        echo_location /sub;
        echo end;
    }
    location = /sub {
        echo sync;
    }
--- request
GET /t
--- response_body
slow 1
between
slow 2
sync
end
--- timeout: 0.9



=== TEST 4: echo_subrequest -f sends a file's bytes as the subrequest's body
--- config
    location = /t {
        echo_subrequest POST /body -f html/body.txt;
    }
    location = /body {
        echo_read_request_body;
        echo -n "got: ";
        echo_request_body;
    }
--- user_files
>>> body.txt
hello from a file
--- request
GET /t
--- response_body
got: hello from a file
