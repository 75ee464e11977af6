# error_page: internal redirects, named locations, status overrides, redirects.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: error_page to a uri keeps the status
--- config
    error_page 404 /404.html;
    location = /404.html { return 200 "custom not found\n"; }
--- request
GET /missing
--- error_code: 404
--- response_body
custom not found

=== TEST 2: error_page with =code changes the status
--- config
    error_page 404 =200 /fallback;
    location = /fallback { return 200 "fallback\n"; }
--- request
GET /missing
--- error_code: 200
--- response_body
fallback

=== TEST 3: error_page with = takes the status of the page
--- config
    error_page 404 = /other;
    location = /other { return 202 "accepted\n"; }
--- request
GET /missing
--- error_code: 202
--- response_body
accepted

=== TEST 4: error_page to a named location
--- config
    error_page 403 @denied;
    location = /t { return 403; }
    location @denied { return 200 "denied page\n"; }
--- request
GET /t
--- error_code: 403
--- response_body
denied page

=== TEST 5: error_page to a URL redirects
--- config
    error_page 500 http://example.com/oops;
    location = /t { return 500; }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: http://example.com/oops

=== TEST 6: error_page with =301 and a URL
--- config
    error_page 404 =301 http://example.com/moved;
--- request
GET /missing
--- error_code: 301
--- response_headers
Location: http://example.com/moved

=== TEST 7: several codes in one error_page
--- config
    error_page 500 502 503 /5xx;
    location = /5xx { return 200 "5xx page\n"; }
    location = /t { return 503; }
--- request
GET /t
--- error_code: 503
--- response_body
5xx page

=== TEST 8: an error in the error page falls back to the built-in page
--- config
    error_page 404 /also-missing.html;
--- request
GET /missing
--- error_code: 404
--- response_body_like: 404 Not Found

=== TEST 9: error_page inherited from server into a location
--- config
    error_page 418 /teapot;
    location = /teapot { return 200 "tea\n"; }
    location = /t { return 418; }
--- request
GET /t
--- error_code: 418
--- response_body
tea

=== TEST 10: error_page to a static file
--- config
    error_page 404 /errors/404.html;
--- user_files
>>> errors/404.html
<p>static not found</p>
--- request
GET /nope
--- error_code: 404
--- response_body
<p>static not found</p>

=== TEST 11: error_page code out of range
--- config
    error_page 200 /x;
--- must_die
--- error_log
value "200" must be between 300 and 599

=== TEST 12: internal redirect cycle ends in 500
--- config
    location ~ ^/ { try_files /nope /loop; }
--- request
GET /loop
--- error_code: 500
--- error_log
rewrite or internal redirection cycle while internally redirecting to "/loop"

=== TEST 13: POST redirected to an error page becomes GET
--- config
    error_page 405 /method;
    location = /method { return 200 "$request_method\n"; }
--- user_files
>>> p.txt
x
--- request
POST /p.txt
body
--- error_code: 405
--- response_body
GET

=== TEST 14: recursive_error_pages lets an error page's own error use an error page
--- config
    recursive_error_pages on;
    error_page 404 /missing-too.html;
    error_page 403 = /final;
    location = /missing-too.html {
        return 403;
    }
    location = /final {
        return 200 "final\n";
    }
--- request
GET /nothing
--- response_body
final

=== TEST 15: without it the second error gets the built-in page
--- config
    error_page 404 /missing-too.html;
    error_page 403 = /final;
    location = /missing-too.html {
        return 403;
    }
    location = /final {
        return 200 "final\n";
    }
--- request
GET /nothing
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 16: recursive error pages that loop end as nginx's redirect cycle: 500
--- config
    recursive_error_pages on;
    error_page 404 /a;
    location = /a {
        return 404;
    }
--- request
GET /nothing
--- error_code: 500
--- error_log
rewrite or internal redirection cycle

=== TEST 17: a 401's WWW-Authenticate stays for its error page, as nginx
--- config
    location /a {
        auth_basic "realm1";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        error_page 401 /e;
    }
    location /e { return 200 "custom page\n"; }
--- user_files
>>> htpasswd
u:{PLAIN}p
--- request
GET /a
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="realm1"
--- response_body
custom page
