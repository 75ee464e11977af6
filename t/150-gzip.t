# gzip and gunzip filters, as nginx answers (checked side by side with Debian's nginx).

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

run_tests();

__DATA__

=== TEST 1: a text response compressed for a client that takes gzip: gzip on the wire, no length; gunzip gives it back whole
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        gzip on;
        gzip_types text/plain;
        location / {
            content_by_lua_block {
                for i = 1, 2000 do ngx.print("a long and repetitive line of text\n") end
            }
        }
    }
--- config
    # (HTTP/1.1 to the upstream: gzip_http_version's default leaves HTTP/1.0 alone)
    proxy_http_version 1.1;
    location /raw {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_set_header Accept-Encoding gzip;
        header_filter_by_lua_block {
            ngx.header["X-Upstream-Encoding"] = ngx.var.upstream_http_content_encoding
            ngx.header["X-Upstream-Length"] = ngx.var.upstream_http_content_length or "none"
        }
        body_filter_by_lua_block {
            if ngx.arg[1] ~= "" and not ngx.ctx.seen then
                ngx.ctx.seen = true
                local b = ngx.arg[1]
                ngx.arg[1] = string.format("magic %02x %02x %02x\n", b:byte(1), b:byte(2), b:byte(3))
            else
                ngx.arg[1] = ""
            end
        }
    }
    location /plain {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_set_header Accept-Encoding gzip;
        gunzip on;
    }
--- pipelined_requests eval
["GET /raw", "GET /plain"]
--- response_headers eval
["X-Upstream-Encoding: gzip\nX-Upstream-Length: none", "Content-Encoding:"]
--- response_body eval
["magic 1f 8b 08\n", "a long and repetitive line of text\n" x 2000]

=== TEST 2: what is not compressed: no Accept-Encoding, q=0, a type not listed, too short, through a proxy (gzip_proxied off), another status, HEAD
--- config
    gzip on;
    gzip_min_length 100;
    location /t {
        default_type text/html;
        return 200 "a body long enough to be compressed by the gzip filter when the client takes it, and more\n";
    }
    location /short {
        default_type text/html;
        return 200 "too short\n";
    }
    location /png {
        default_type image/png;
        return 200 "a body long enough to be compressed by the gzip filter when the client takes it, and more\n";
    }
    location /err {
        default_type text/html;
        return 500 "a body long enough to be compressed by the gzip filter when the client takes it, and more\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /png", "GET /short", "GET /t", "GET /err", "HEAD /t"]
--- more_headers eval
["", "Accept-Encoding: gzip;q=0", "Accept-Encoding: gzip", "Accept-Encoding: gzip", "Accept-Encoding: gzip\nVia: 1.1 proxy", "Accept-Encoding: gzip", "Accept-Encoding: gzip"]
--- error_code eval
[200, 200, 200, 200, 200, 500, 200]
--- response_headers eval
["Content-Encoding:", "Content-Encoding:", "Content-Encoding:", "Content-Encoding:", "Content-Encoding:", "Content-Encoding:", "Content-Encoding:"]

=== TEST 3: gzip_vary adds Vary: Accept-Encoding to what could be compressed, also when it is not; ETag weakened, Accept-Ranges dropped
--- config
    gzip on;
    gzip_vary on;
    gzip_min_length 1;
    location /f {
        default_type text/html;
        alias $TEST_NGINX_HTML_DIR/page.html;
    }
--- user_files
>>> page.html
<html><body>hello, compressible world</body></html>
--- pipelined_requests eval
["GET /f", "GET /f"]
--- more_headers eval
["Accept-Encoding: gzip", ""]
--- response_headers eval
["Vary: Accept-Encoding\nContent-Encoding: gzip\nAccept-Ranges:\nContent-Length:", "Vary: Accept-Encoding\nContent-Encoding:\nAccept-Ranges: bytes"]
--- response_headers_like eval
["ETag: W/\"[0-9a-f]+-[0-9a-f]+\"", "ETag: \"[0-9a-f]+-[0-9a-f]+\""]

=== TEST 4: Lua's body filter sees the plain body; gzip compresses what it made
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        gzip on;
        gzip_types text/plain;
        gzip_min_length 1;
        location / {
            return 200 "hello from the upstream, hello again\n";
            body_filter_by_lua_block {
                ngx.arg[1] = ngx.arg[1]:gsub("hello", "HELLO")
            }
        }
    }
--- config
    location /plain {
        proxy_http_version 1.1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_set_header Accept-Encoding gzip;
        gunzip on;
    }
--- request
GET /plain
--- response_body
HELLO from the upstream, HELLO again

=== TEST 5: gunzip leaves gzip to a client that takes it
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        gzip on;
        gzip_types text/plain;
        gzip_min_length 1;
        location / { return 200 "compressed upstream body\n"; }
    }
--- config
    location /g {
        proxy_http_version 1.1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_set_header Accept-Encoding gzip;
        gunzip on;
        # (Lua's body filter runs before gunzip's: it sees what the upstream sent)
        body_filter_by_lua_block {
            local b = ngx.arg[1]
            if b ~= "" and not ngx.ctx.seen then
                ngx.ctx.seen = true
                ngx.arg[1] = string.format("magic %02x %02x\n", b:byte(1), b:byte(2))
            else
                ngx.arg[1] = ""
            end
        }
    }
--- request
GET /g
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
--- response_body
magic 1f 8b

=== TEST 6: a body that is not gzip cannot be gunzipped: logged, cut short
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header Content-Encoding gzip;
            return 200 "this is not gzip at all\n";
        }
    }
--- config
    location /g {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        gunzip on;
    }
--- request
GET /g
--- ignore_response
--- error_log
inflate() failed

=== TEST 7: gzip_comp_level takes 1 to 9
--- config
    gzip_comp_level 10;
--- must_die
--- error_log
value must be between 1 and 9

=== TEST 8: gzip_static serves the .gz twin to a client that takes gzip (its type from the plain name), the plain file to others; always: to everyone
--- config
    gzip_vary on;
    location /s/ {
        alias $TEST_NGINX_HTML_DIR/;
        gzip_static on;
    }
    location /a/ {
        alias $TEST_NGINX_HTML_DIR/;
        gzip_static always;
    }
--- user_files
>>> page.html
plain page
>>> page.html.gz
not really gzip, but served as it is
>>> alone.html
no twin
--- pipelined_requests eval
["GET /s/page.html", "GET /s/page.html", "GET /s/alone.html", "GET /a/page.html"]
--- more_headers eval
["Accept-Encoding: gzip", "", "Accept-Encoding: gzip", ""]
--- response_headers eval
["Content-Encoding: gzip\nContent-Type: text/html\nVary: Accept-Encoding\nContent-Length: 37", "Content-Encoding:\nVary: Accept-Encoding\nContent-Length: 11", "Content-Encoding:\nVary:", "Content-Encoding: gzip\nVary:"]
--- response_body eval
["not really gzip, but served as it is\n", "plain page\n", "no twin\n", "not really gzip, but served as it is\n"]

=== TEST 9: gzip_disable: no compression for the user agents it matches; gzip_buffers is taken
--- config
    gzip on;
    gzip_min_length 1;
    gzip_types text/plain;
    gzip_disable "curl" "^Lynx/\d";
    gzip_buffers 4 8k;
    location = /t {
        return 200 "hello hello hello hello\n";
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Accept-Encoding: gzip\nUser-Agent: curl/8.0", "Accept-Encoding: gzip\nUser-Agent: Lynx/2.9", "Accept-Encoding: gzip\nUser-Agent: Mozilla/5.0"]
--- response_headers eval
["Content-Encoding:", "Content-Encoding:", "Content-Encoding: gzip"]
