# The map and split_clients modules: variables looked up from other values (strings,
# hostname masks, regexes, default; hash buckets).

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: the websocket idiom: a map of $http_upgrade
--- http_config
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
--- config
    location = /t {
        return 200 "[$connection_upgrade]\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- more_headers
Upgrade: websocket
--- response_body eval
["[upgrade]\n", "[upgrade]\n"]

=== TEST 2: an empty source takes the '' key
--- http_config
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
--- config
    location = /t {
        return 200 "[$connection_upgrade]\n";
    }
--- request
GET /t
--- response_body
[close]

=== TEST 3: strings match ignoring case; no match and no default is empty
--- http_config
    map $arg_k $v {
        Apple  fruit;
        carrot vegetable;
    }
--- config
    location = /t {
        return 200 "[$v]\n";
    }
--- pipelined_requests eval
["GET /t?k=APPLE", "GET /t?k=Carrot", "GET /t?k=stone"]
--- response_body eval
["[fruit]\n", "[vegetable]\n", "[]\n"]

=== TEST 4: regexes in order, case-sensitive with ~ and not with ~*, captures in the value
--- http_config
    map $http_user_agent $agent {
        default             other;
        "~Opera Mini"       opera-mini;
        ~*^curl/(?<ver>\d+) curl-$ver;
        ~^(\w+)/            first-$1;
    }
--- config
    location = /t {
        return 200 "$agent\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- more_headers
User-Agent: CURL/8.1
--- response_body eval
["curl-8\n", "curl-8\n"]

=== TEST 5: a string wins over a regex, and the map is read from Lua
--- http_config
    map $uri $kind {
        /exact   string;
        ~^/ex    regex;
        default  none;
    }
--- config
    location ~ ^/ {
        content_by_lua_block { ngx.say(ngx.var.kind) }
    }
--- pipelined_requests eval
["GET /exact", "GET /example", "GET /other"]
--- response_body eval
["string\n", "regex\n", "none\n"]

=== TEST 6: hostnames: exact, then the longest leading mask, then a trailing mask
--- http_config
    map $arg_h $site {
        hostnames;
        default        0;
        example.com    1;
        *.example.com  2;
        *.a.example.com 3;
        .example.org   4;
        www.*          5;
    }
--- config
    location = /t {
        return 200 "$site\n";
    }
--- pipelined_requests eval
["GET /t?h=example.com", "GET /t?h=x.example.com", "GET /t?h=x.a.example.com", "GET /t?h=example.org",
 "GET /t?h=y.example.org", "GET /t?h=www.example.net", "GET /t?h=nowhere.test"]
--- response_body eval
["1\n", "2\n", "3\n", "4\n", "4\n", "5\n", "0\n"]

=== TEST 7: the value may hold variables; a source may join several
--- http_config
    map "$request_method:$arg_a" $combo {
        default          "none for $request_method";
        GET:1            "get one, uri $uri";
    }
--- config
    location = /t {
        return 200 "$combo\n";
    }
--- pipelined_requests eval
["GET /t?a=1", "GET /t?a=2"]
--- response_body eval
["get one, uri /t\n", "none for GET\n"]

=== TEST 8: a key spelled like a special parameter is escaped with a backslash
--- http_config
    map $arg_k $v {
        \default  literal;
        default   fallback;
    }
--- config
    location = /t {
        return 200 "$v\n";
    }
--- pipelined_requests eval
["GET /t?k=default", "GET /t?k=x"]
--- response_body eval
["literal\n", "fallback\n"]

=== TEST 9: a key given twice is refused
--- http_config
    map $arg_k $v {
        a 1;
        A 2;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
conflicting parameter "a"

=== TEST 10: a line with more than a key and a value is refused
--- http_config
    map $arg_k $v {
        a 1 2;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid number of the map parameters

=== TEST 11: a map cannot take a built-in variable's name
--- http_config
    map $arg_k $uri {
        a 1;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
the duplicate "uri" variable

=== TEST 12: maps that refer to each other in a cycle give the empty string, logged
--- http_config
    map $b $a { default "<$b>"; }
    map $a $b { default "<$a>"; }
--- config
    location = /t {
        return 200 "[$a]\n";
    }
--- request
GET /t
--- response_body
[]
--- error_log
cycle while evaluating a map variable

=== TEST 13: volatile is accepted; a map is only allowed at http level
--- http_config
    map $arg_k $v {
        volatile;
        default d;
    }
--- config
    location = /t {
        return 200 "$v\n";
    }
--- request
GET /t
--- response_body
d

=== TEST 14: map inside a server is refused
--- config
    map $arg_k $v { default d; }
--- must_die
--- error_log
"map" directive is not allowed here

=== TEST 15: split_clients puts each value in the bucket nginx puts it in (MurmurHash2)
--- http_config
    split_clients "${arg_k}AAA" $variant {
        0.5%   one;
        2.0%   two;
        33.3%  three;
        *      rest;
    }
--- config
    location = /t {
        return 200 "$variant\n";
    }
--- pipelined_requests eval
["GET /t?k=13", "GET /t?k=19", "GET /t?k=a", "GET /t?k=d"]
--- response_body eval
["one\n", "two\n", "three\n", "rest\n"]

=== TEST 16: split_clients percentages may not pass 100%
--- http_config
    split_clients $arg_k $v {
        60% a;
        50% b;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
percent total is greater than 100%

=== TEST 17: split_clients takes N% with two decimals at most
--- http_config
    split_clients $arg_k $v {
        1.234% a;
    }
--- config
    location = /t { return 200; }
--- must_die
--- error_log
invalid percent value "1.234%"

=== TEST 18: include inside a map block
--- http_config
    map $arg_k $v {
        default none;
        include ../html/map.conf;
    }
--- config
    location = /t { return 200 "$v\n"; }
--- user_files
>>> map.conf
a  alpha;
b  beta;
--- request
GET /t?k=b
--- response_body
beta
