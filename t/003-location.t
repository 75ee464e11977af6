# Location matching: nginx's precedence, nested, named, internal.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: exact beats everything
--- config
    location = /a { return 200 "exact\n"; }
    location /a { return 200 "prefix\n"; }
    location ~ ^/a { return 200 "regex\n"; }
--- request
GET /a
--- response_body
exact

=== TEST 2: regex beats a plain prefix
--- config
    location /a { return 200 "prefix\n"; }
    location ~ ^/a/b { return 200 "regex\n"; }
--- request
GET /a/b/c
--- response_body
regex

=== TEST 3: ^~ prefix stops the regex search
--- config
    location ^~ /a/ { return 200 "noregex\n"; }
    location ~ ^/a/b { return 200 "regex\n"; }
--- request
GET /a/b
--- response_body
noregex

=== TEST 4: the longest prefix wins
--- config
    location /a/ { return 200 "short\n"; }
    location /a/b/ { return 200 "long\n"; }
--- request
GET /a/b/c
--- response_body
long

=== TEST 5: the first matching regex wins, in config order
--- config
    location ~ /x { return 200 "first\n"; }
    location ~ /x/y { return 200 "second\n"; }
--- request
GET /x/y
--- response_body
first

=== TEST 6: case-insensitive regex
--- config
    location ~* \.PNG$ { return 200 "png\n"; }
--- request
GET /img/a.png
--- response_body
png

=== TEST 7: case-sensitive regex does not match other case
--- config
    location ~ \.PNG$ { return 200 "png\n"; }
    location /img/ { return 200 "fallback\n"; }
--- request
GET /img/a.png
--- response_body
fallback

=== TEST 8: nested prefix inside prefix
--- config
    location /a/ {
        location /a/b/ { return 200 "nested\n"; }
        return 200 "outer\n";
    }
--- request
GET /a/b/x
--- response_body
nested

=== TEST 9: nested regex inside prefix
--- config
    location /a/ {
        location ~ \.txt$ { return 200 "nested regex\n"; }
        return 200 "outer\n";
    }
--- request
GET /a/f.txt
--- response_body
nested regex

=== TEST 10: the outer location when no nested one matches
--- config
    location /a/ {
        location ~ \.txt$ { return 200 "nested regex\n"; }
        return 200 "outer\n";
    }
--- request
GET /a/f.html
--- response_body
outer

=== TEST 11: internal location is 404 from outside
--- config
    location /hidden { internal; return 200 "secret\n"; }
--- request
GET /hidden
--- error_code: 404

=== TEST 12: internal location is reachable by error_page
--- config
    location /hidden { internal; return 200 "secret\n"; }
    location = /t { error_page 404 /hidden; return 404; }
--- request
GET /t
--- error_code: 404
--- response_body
secret

=== TEST 13: named location via try_files
--- config
    location = /t { try_files /nope @fallback; }
    location @fallback { return 200 "named\n"; }
--- request
GET /t
--- response_body
named

=== TEST 14: named locations are not matched by URI
--- config
    location @x { return 200 "named\n"; }
--- request
GET /@x
--- error_code: 404

=== TEST 15: missing named location is a 500 with a log line
--- config
    location = /t { try_files /nope @missing; }
--- request
GET /t
--- error_code: 500
--- error_log
could not find named location "@missing"

=== TEST 16: location with modifier written together
--- config
    location =/t { return 200 "joined\n"; }
--- request
GET /t
--- response_body
joined

=== TEST 17: regex with captures-like groups and anchors
--- config
    location ~ ^/(\d+)/x$ { return 200 "num\n"; }
--- request
GET /123/x
--- response_body
num

=== TEST 18: location matching uses the decoded, normalised uri
--- config
    location = "/a b" { return 200 "decoded\n"; }
--- request
GET /x/../a%20b
--- response_body
decoded

=== TEST 19: merged slashes
--- config
    location = /a/b { return 200 "merged\n"; }
--- request
GET //a///b
--- response_body
merged

=== TEST 20: merge_slashes off keeps them
--- config
    merge_slashes off;
    location = /a//b { return 200 "kept\n"; }
--- request
GET /a//b
--- response_body
kept

=== TEST 21: settings inherit from server into nested locations
--- config
    default_type text/x-outer;
    location /a/ {
        location /a/b { return 200 "x"; }
    }
--- request
GET /a/b
--- response_headers
Content-Type: text/x-outer

=== TEST 22: an inner setting overrides the outer one
--- config
    default_type text/x-outer;
    location /a/ {
        default_type text/x-inner;
        location /a/b { return 200 "x"; }
    }
--- request
GET /a/b
--- response_headers
Content-Type: text/x-inner
