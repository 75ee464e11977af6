# Static files: root, alias, index, conditional requests, ranges, try_files.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a file under root
--- config
    # (the server alone: files under its root)
--- user_files
>>> hello.txt
hello world
--- request
GET /hello.txt
--- response_body
hello world
--- response_headers
Content-Length: 12
Accept-Ranges: bytes

=== TEST 2: index.html for a directory
--- config
    # (the server alone: files under its root)
--- user_files
>>> index.html
<p>index</p>
--- request
GET /
--- response_body
<p>index</p>

=== TEST 3: a directory without trailing slash redirects
--- config
    # (the server alone: files under its root)
--- user_files
>>> dir/index.html
in dir
--- request
GET /dir
--- error_code: 301
--- response_headers_like
Location: http://localhost:\d+/dir/

=== TEST 4: the directory with slash serves its index
--- config
    # (the server alone: files under its root)
--- user_files
>>> dir/index.html
in dir
--- request
GET /dir/
--- response_body
in dir

=== TEST 5: missing file is 404 and logged
--- config
    # (the server alone: files under its root)
--- request
GET /missing.txt
--- error_code: 404
--- error_log eval
qr/\[error\] .*open\(\) "\S+\/html\/missing\.txt" failed \(2: No such file or directory\), client: 127\.0\.0\.1, server: localhost, request: "GET \/missing\.txt HTTP\/1\.1", host: "localhost"/

=== TEST 6: log_not_found off
--- config
    log_not_found off;
--- request
GET /missing.txt
--- error_code: 404
--- no_error_log
[error]

=== TEST 7: a directory without an index is forbidden
--- config
    # (the server alone)
--- user_files
>>> empty/x.bin
x
--- request
GET /empty/
--- error_code: 403
--- error_log
directory index of "

=== TEST 8: content type from types
--- config
    # (the server alone)
--- http_config
    types { application/x-test tst; }
--- user_files
>>> a.tst
t
--- request
GET /a.tst
--- response_headers
Content-Type: application/x-test

=== TEST 9: default_type when no type matches
--- config
    # (the server alone)
--- user_files
>>> a.unknownext
t
--- request
GET /a.unknownext
--- response_headers
Content-Type: text/plain

=== TEST 10: ETag and Last-Modified are sent
--- config
    # (the server alone)
--- user_files
>>> e.txt
etag
--- request
GET /e.txt
--- response_headers_like
ETag: "[0-9a-f]+-5"
Last-Modified: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT

=== TEST 11: If-None-Match with a matching ETag gives 304
--- config
    location = /t { etag off; return 200; }
--- user_files
>>> e.txt
etag
--- raw_request eval
"GET /e.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n"
--- error_code: 304
--- response_body

=== TEST 12: If-Modified-Since in the future of the file: 304 with if_modified_since before
--- config
    if_modified_since before;
--- user_files
>>> e.txt
etag
--- request
GET /e.txt
--- more_headers
If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT
--- error_code: 304

=== TEST 13: If-Modified-Since exact mismatch serves the file
--- config
    # (the server alone: files under its root)
--- user_files
>>> e.txt
etag
--- request
GET /e.txt
--- more_headers
If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT
--- response_body
etag

=== TEST 14: etag off
--- config
    etag off;
--- user_files
>>> e.txt
etag
--- request
GET /e.txt
--- response_headers
!ETag

=== TEST 15: single byte range
--- config
    # (the server alone)
--- user_files
>>> r.txt
0123456789
--- request
GET /r.txt
--- more_headers
Range: bytes=2-5
--- error_code: 206
--- response_body chomp
2345
--- response_headers_like
Content-Range: bytes 2-5/11
Content-Length: 4

=== TEST 16: suffix range
--- config
    # (the server alone)
--- user_files
>>> r.txt
0123456789
--- request
GET /r.txt
--- more_headers
Range: bytes=-3
--- error_code: 206
--- response_body eval
"89\n"

=== TEST 17: open-ended range
--- config
    # (the server alone)
--- user_files
>>> r.txt
0123456789
--- request
GET /r.txt
--- more_headers
Range: bytes=8-
--- error_code: 206
--- response_body eval
"89\n"

=== TEST 18: unsatisfiable range
--- config
    # (the server alone)
--- user_files
>>> r.txt
0123456789
--- request
GET /r.txt
--- more_headers
Range: bytes=50-60
--- error_code: 416
--- response_headers
Content-Range: bytes */11

=== TEST 19: HEAD on a file
--- config
    # (the server alone)
--- user_files
>>> h.txt
head
--- request
HEAD /h.txt
--- response_headers
Content-Length: 5
--- response_body

=== TEST 20: POST to a static file is 405
--- config
    # (the server alone)
--- user_files
>>> p.txt
x
--- request
POST /p.txt
hello
--- error_code: 405

=== TEST 21: unknown method on a static location is 405
--- config
    # (the server alone)
--- user_files
>>> p.txt
x
--- request
DELETE /p.txt
--- error_code: 405

=== TEST 22: alias replaces the location prefix
--- config
    location /static/ {
        alias $TEST_NGINX_HTML_DIR/files/;
    }
--- user_files
>>> files/a.txt
aliased
--- request
GET /static/a.txt
--- response_body
aliased

=== TEST 23: root in a location
--- config
    location /sub/ {
        root $TEST_NGINX_HTML_DIR/other;
    }
--- user_files
>>> other/sub/b.txt
rooted
--- request
GET /sub/b.txt
--- response_body
rooted

=== TEST 24: try_files picks the first existing file
--- config
    location ~ ^/ {
        root $TEST_NGINX_HTML_DIR;
        try_files $uri $uri.html /fallback.txt;
    }
--- user_files
>>> page.html
page
>>> fallback.txt
fallback
--- request
GET /page
--- response_body
page

=== TEST 25: try_files falls back to a uri
--- config
    location ~ ^/ {
        root $TEST_NGINX_HTML_DIR;
        try_files $uri /fallback.txt;
    }
--- user_files
>>> fallback.txt
fallback
--- request
GET /nothing
--- response_body
fallback

=== TEST 26: try_files with =code
--- config
    location ~ ^/ {
        root $TEST_NGINX_HTML_DIR;
        try_files $uri =418;
    }
--- request
GET /nothing
--- error_code: 418

=== TEST 27: try_files directory check
--- config
    location ~ ^/ {
        root $TEST_NGINX_HTML_DIR;
        try_files $uri $uri/ =404;
        index index.html;
    }
--- user_files
>>> d/index.html
dir index
--- request
GET /d/
--- response_body
dir index

=== TEST 28: try_files fallback to a location
--- config
    location ~ ^/ {
        root $TEST_NGINX_HTML_DIR;
        try_files $uri /app;
    }
    location = /app { return 200 "app $uri\n"; }
--- request
GET /whatever
--- response_body
app /app

=== TEST 29: index with several names
--- config
    location ~ ^/ {
        root $TEST_NGINX_HTML_DIR;
        index a.html b.html;
    }
--- user_files
>>> b.html
bee
--- request
GET /
--- response_body
bee

=== TEST 30: a larger file arrives whole
--- config
    # (the server alone)
--- user_files eval
">>> big.txt\n" . ("0123456789abcdef" x 8192) . "\n"
--- request
GET /big.txt
--- response_body eval
("0123456789abcdef" x 8192) . "\n"

=== TEST 31: path traversal is refused
--- config
    # (the server alone)
--- raw_request eval
"GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400

=== TEST 32: encoded traversal is refused too
--- config
    # (the server alone)
--- raw_request eval
"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- error_code: 400

=== TEST 33: query string is not part of the file name
--- config
    # (the server alone)
--- user_files
>>> q.txt
query
--- request
GET /q.txt?a=1
--- response_body
query

=== TEST 34: sendfile on sends a large file whole
--- config
    sendfile on;
--- user_files eval
">>> big.txt\n" . ("0123456789abcdef" x 8192) . "\n"
--- request
GET /big.txt
--- response_body eval
("0123456789abcdef" x 8192) . "\n"
--- response_headers
Content-Length: 131073

=== TEST 35: sendfile on with a range of a large file
--- config
    sendfile on;
--- user_files eval
">>> big.txt\n" . ("0123456789abcdef" x 8192) . "\n"
--- request
GET /big.txt
--- more_headers
Range: bytes=16-131071
--- error_code: 206
--- response_body eval
("0123456789abcdef" x 8191)

=== TEST 36: HEAD with sendfile on sends no body
--- config
    sendfile on;
--- user_files eval
">>> big.txt\n" . ("0123456789abcdef" x 8192) . "\n"
--- request
HEAD /big.txt
--- response_headers
Content-Length: 131073
--- response_body

=== TEST 37: root with a variable: a directory per host
--- config
    location /v/ {
        root html/sites/$host;
    }
--- user_files
>>> sites/one.test/v/page.txt
one
>>> sites/two.test/v/page.txt
two
--- request
GET /v/page.txt
--- more_headers
Host: two.test
--- response_body
two

=== TEST 38: alias in a regex location is the whole path, with the captures
--- config
    location ~ ^/img/(?<name>\w+)\.png$ {
        alias html/pictures/$name.bin;
    }
--- user_files
>>> pictures/cat.bin
meow
--- request
GET /img/cat.png
--- response_body
meow

=== TEST 39: alias with a numbered capture
--- config
    location ~ ^/files/(.+)$ {
        alias html/store/$1;
    }
--- user_files
>>> store/a/b.txt
deep
--- request
GET /files/a/b.txt
--- response_body
deep

=== TEST 40: $document_root follows a root with variables
--- config
    location = /t {
        root /srv/$arg_site;
        return 200 "$document_root\n";
    }
--- request
GET /t?site=shop
--- response_body
/srv/shop

=== TEST 41: without a types block nginx's three built-in types apply (html, gif, jpg), others get default_type
--- config
    location /b/ {
        alias $TEST_NGINX_HTML_DIR/;
    }
--- user_files
>>> x.html
h
>>> x.GIF
g
>>> x.txt
t
--- pipelined_requests eval
["GET /b/x.html", "GET /b/x.GIF", "GET /b/x.txt"]
--- response_headers eval
["Content-Type: text/html", "Content-Type: image/gif", "Content-Type: text/plain"]
