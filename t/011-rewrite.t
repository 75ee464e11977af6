# rewrite, break and regex captures.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: rewrite ... last looks the location up again
--- config
    location /old/ {
        rewrite ^/old/(.*)$ /new/$1 last;
    }
    location /new/ {
        return 200 "new: $uri\n";
    }
--- request
GET /old/page
--- response_body
new: /new/page

=== TEST 2: rewrite ... break stays in the location and skips the rest of the script
--- config
    location /a/ {
        rewrite ^/a/(.*)$ /b/$1 break;
        return 200 "not reached\n";
    }
    location /b/ {
        return 200 "b\n";
    }
--- request
GET /a/x
--- error_code: 404
--- error_log eval
qr{open\(\) "\S+/html/b/x" failed}

=== TEST 3: rewrite ... break then static file from the new URI
--- config
    location /files/ {
        rewrite ^/files/(.*)$ /real/$1 break;
        root $TEST_NGINX_HTML_DIR;
    }
--- user_files
>>> real/f.txt
real file
--- request
GET /files/f.txt
--- response_body
real file

=== TEST 4: rewrite ... redirect and permanent
--- config
    location = /r1 { rewrite ^ /target redirect; }
    location = /r2 { rewrite ^ /target permanent; }
--- pipelined_requests eval
["GET /r1", "GET /r2"]
--- error_code eval
[302, 301]
--- response_headers_like eval
["Location: http://localhost:\\d+/target", "Location: http://localhost:\\d+/target"]

=== TEST 5: rewrite to a URL redirects and keeps args
--- config
    location = /t { rewrite ^ https://example.com/x; }
--- request
GET /t?a=1
--- error_code: 302
--- response_headers
Location: https://example.com/x?a=1

=== TEST 6: a trailing ? drops the original args
--- config
    location = /t {
        rewrite ^ /dest? last;
    }
    location = /dest { return 200 "[$args]\n"; }
--- request
GET /t?a=1
--- response_body
[]

=== TEST 7: new args come first, old ones follow
--- config
    location = /t {
        rewrite ^ /dest?x=1 last;
    }
    location = /dest { return 200 "$args\n"; }
--- request
GET /t?a=2
--- response_body
x=1&a=2

=== TEST 8: no flag: later rewrites see the new URI, then a new lookup
--- config
    location /one {
        rewrite ^/one /two;
        rewrite ^/two /three;
    }
    location /three { return 200 "three\n"; }
--- request
GET /one
--- response_body
three

=== TEST 9: break stops the script
--- config
    location = /t {
        set $a "before";
        break;
        set $a "after";
        return 200 "unreachable\n";
    }
--- request
GET /t
--- error_code: 404

=== TEST 10: location regex captures
--- config
    location ~ ^/user/(\w+)/(\d+)$ {
        return 200 "$1 $2\n";
    }
--- request
GET /user/alice/42
--- response_body
alice 42

=== TEST 11: if regex captures
--- config
    location = /t {
        if ($arg_id ~ ^(\d+)-(\d+)$) {
            return 200 "$2 $1\n";
        }
        return 200 "no\n";
    }
--- request
GET /t?id=12-34
--- response_body
34 12

=== TEST 12: captures in Lua through ngx.var
--- config
    location ~ ^/c/(.+)$ {
        content_by_lua_block { ngx.say(ngx.var[1]) }
    }
--- request
GET /c/captured
--- response_body
captured

=== TEST 13: a rewrite loop ends in 500
--- config
    location /loop {
        rewrite ^ /loop last;
    }
--- request
GET /loop
--- error_code: 500
--- error_log
rewrite or internal redirection cycle

=== TEST 14: bad rewrite flag
--- config
    location = /t { rewrite ^ /x sometimes; }
--- must_die
--- error_log
invalid parameter "sometimes"

=== TEST 15: server-level rewrite
--- config
    rewrite ^/legacy/(.*)$ /modern/$1;
    location /modern/ { return 200 "modern $uri\n"; }
--- request
GET /legacy/x
--- response_body
modern /modern/x

=== TEST 16: a named group of a location regex is a variable
--- config
    location ~ ^/user/(?<id>\d+)$ {
        return 200 "id=$id first=$1\n";
    }
--- request
GET /user/42
--- response_body
id=42 first=42

=== TEST 17: named groups in rewrite, and in Lua's ngx.var
--- config
    location /old/ {
        rewrite ^/old/(?<rest>.*)$ /new/$rest last;
    }
    location /new/ {
        content_by_lua_block { ngx.say(ngx.var.uri, " ", ngx.var.rest) }
    }
--- request
GET /old/a/b
--- response_body
/new/a/b a/b

=== TEST 18: named groups in an if condition; names are case-insensitive
--- config
    location /x/ {
        if ($uri ~ ^/x/(?<Word>\w+)) {
            return 200 "word=$word\n";
        }
        return 404;
    }
--- request
GET /x/hello
--- response_body
word=hello

=== TEST 19: named groups of a regex server name
--- config
    server_name ~^(?<sub>[a-z]+)\.example\.com$;
    location = /t {
        return 200 "sub=$sub\n";
    }
--- request
GET /t
--- more_headers
Host: shop.example.com
--- response_body
sub=shop

=== TEST 20: a named group may not take a built-in variable's name
--- config
    location ~ ^/(?<uri>.*)$ {
        return 200;
    }
--- must_die
--- error_log
the duplicate "uri" variable

=== TEST 21: set $args changes the query string (nginx's changeable built-in)
--- config
    location = /t {
        set $args "$args&added=1";
        content_by_lua_block { ngx.say(ngx.var.args, " ", ngx.var.arg_added) }
    }
--- request
GET /t?a=b
--- response_body
a=b&added=1 1

=== TEST 22: set $limit_rate limits the response; a bad size is logged
--- config
    location = /t {
        set $limit_rate 100k;
        content_by_lua_block { ngx.print(string.rep("a", 150000)) }
        log_by_lua_block {
            ngx.update_time()
            ngx.log(ngx.WARN, "took long: ", ngx.now() - ngx.req.start_time() >= 0.9, " rate ", ngx.var.limit_rate)
        }
    }
    location = /bad {
        set $limit_rate lots;
        return 200 "ok\n";
    }
--- pipelined_requests eval
["GET /bad", "GET /t"]
--- response_body_like eval
["^ok\n\$", "^(?:a{50000}){3}\$"]
--- error_log
invalid size "lots"
took long: true rate 102400
