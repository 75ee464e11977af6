# The referer module: valid_referers and $invalid_referer.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: names, wildcards, none and blocked
--- config
    location = /t {
        valid_referers none blocked example.com *.example.org www.example.*;
        return 200 "[$invalid_referer]\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t?r=1", "GET /t?r=2", "GET /t?r=3", "GET /t?r=4", "GET /t?r=5"]
--- more_headers eval
["", "Referer: http://example.com/a", "Referer: https://shop.example.org/", "Referer: http://www.example.net",
 "Referer: http://evil.test/example.com", "Referer: firewall-mangled"]
--- response_body eval
["[]\n", "[]\n", "[]\n", "[]\n", "[1]\n", "[]\n"]

=== TEST 2: without none and blocked, a missing or scheme-less Referer is invalid
--- config
    location = /t {
        valid_referers example.com;
        if ($invalid_referer) { return 403; }
        return 200 "ok\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["", "Referer: example.com", "Referer: http://EXAMPLE.com:8080/x"]
--- error_code eval
[403, 403, 200]

=== TEST 3: server_names, regexes, URI prefixes; inherited from the server
--- config
    server_name site.test *.cdn.test;
    valid_referers server_names ~\.search\. pics.test/gallery/;
    location = /t {
        return 200 "[$invalid_referer]\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Referer: http://site.test/x", "Referer: http://img.cdn.test/", "Referer: https://www.Search.example/?q=1",
 "Referer: http://pics.test/gallery/1.jpg", "Referer: http://pics.test/other/1.jpg", "Referer: http://other.test/"]
--- response_body eval
["[]\n", "[]\n", "[]\n", "[]\n", "[1]\n", "[1]\n"]

=== TEST 4: a location without valid_referers of its own, under a server without any: every Referer is valid
--- config
    location = /t {
        return 200 "[$invalid_referer]\n";
    }
--- request
GET /t
--- more_headers
Referer: http://anything.test/
--- response_body
[]

=== TEST 5: a wildcard in the middle of a name is refused
--- config
    location = /t {
        valid_referers www.*.example.com;
    }
--- must_die
--- error_log
invalid hostname or wildcard "www.*.example.com"
