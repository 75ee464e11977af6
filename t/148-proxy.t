# proxy_pass and upstream blocks, as nginx answers (checked side by side with Debian's
# nginx 1.22).

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: without a URI part the request URI goes as the client sent it; nginx's default headers
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            echo "uri: $request_uri";
            echo "host: $http_host";
            echo "connection: $http_connection";
            echo "ua: $http_user_agent";
            echo "te: $http_te";
        }
    }
--- config
    location /t/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request
GET /t/x/a%2Fb?q=1
--- more_headers
User-Agent: tester
TE: trailers
--- response_body_like chomp
^uri: /t/x/a%2Fb\?q=1
host: 127\.0\.0\.1:\d+
connection: close
ua: tester
te: $

=== TEST 2: a URI part replaces the location's prefix; the args follow
--- config
    location /pre/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back/;
    }
    location /back/ {
        echo "uri: $request_uri";
    }
--- request
GET /pre/a/b.html?x=1&y=2
--- response_body
uri: /back/a/b.html?x=1&y=2

=== TEST 3: after rewrite ... break the whole changed URI goes, the URI part ignored
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            echo "uri: $request_uri";
        }
    }
--- config
    location /pre/ {
        rewrite ^/pre/(.*)$ /other/$1 break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/;
    }
    location /nouri/ {
        rewrite ^/nouri/(.*)$ /other/$1 break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- pipelined_requests eval
["GET /pre/z?k=v", "GET /nouri/a%20b?k=v"]
--- response_body eval
["uri: /other/z?k=v\n", "uri: /other/a%20b?k=v\n"]

=== TEST 4: an upstream block balances by weighted round-robin
--- http_config
    upstream backends {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1 weight=2;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "one\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location / { return 200 "two\n"; }
    }
--- config
    location = /t {
        content_by_lua_block {
            local out = {}
            for i = 1, 6 do
                local res = ngx.location.capture("/p")
                out[#out + 1] = res.body:sub(1, -2)
            end
            ngx.say(table.concat(out, " "))
        }
    }
    location = /p {
        proxy_pass http://backends/;
    }
--- request
GET /t
--- response_body
one two one one two one

=== TEST 5: a refused connection is a 502, logged as nginx logs it
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/x;
    }
--- request
GET /t
--- error_code: 502
--- error_log eval
qr/\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/x", host: "localhost"/

=== TEST 6: a slow head is a 504 after proxy_read_timeout
--- config
    location = /t {
        proxy_read_timeout 200ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/slow;
    }
    location = /slow {
        echo_sleep 1;
        echo hi;
    }
--- request
GET /t
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream

=== TEST 7: an answer without a status line is taken for HTTP/0.9 and passed on as it is
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: garbage garbage
--- request
GET /t
--- http09
--- response_body: garbage garbage
--- error_log
upstream sent no valid HTTP/1.0 header while reading response header from upstream

=== TEST 8: an upstream that closes before its head is a 502
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply:
--- request
GET /t
--- error_code: 502
--- error_log
upstream prematurely closed connection while reading response header from upstream

=== TEST 9: proxy_set_header, proxy_pass_request_headers off, proxy_set_body, proxy_method
--- config
    location = /t {
        proxy_pass_request_headers off;
        proxy_set_header X-Who $remote_addr;
        proxy_set_header Host example.com;
        proxy_set_body "the body";
        proxy_method PUT;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back {
        echo_read_request_body;
        echo "$request_method $http_host who=$http_x_who ua=$http_user_agent len=$http_content_length";
        echo_request_body;
    }
--- request
GET /t
--- more_headers
User-Agent: tester
--- response_body chomp
PUT example.com who=127.0.0.1 ua= len=8
the body

=== TEST 10: a chunked answer is decoded and framed again; upstream headers pass, hidden ones not
--- config
    location = /t {
        proxy_hide_header X-Secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 201 Created\r\nServer: upstream\r\nX-Accel-Charset: x\r\nX-Secret: s\r\nX-Kept: k\r\nContent-Type: text/x-test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
--- request
GET /t
--- error_code: 201
--- response_headers
X-Kept: k
X-Secret:
X-Accel-Charset:
Content-Type: text/x-test
--- response_headers_like
Server: oxiresty.*|nginx.*
--- response_body chomp
hello, world

=== TEST 11: a refused server is skipped for the next one; the variables list both tries
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    location = /t {
        proxy_pass http://two/back;
        add_header X-Addr $upstream_addr;
        add_header X-Status $upstream_status;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
X-Addr: 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+
X-Status: 502, 200
--- response_body
ok
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream server temporarily disabled while connecting to upstream

=== TEST 12: a request body goes with its length; $proxy_add_x_forwarded_for
--- config
    location = /t {
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back {
        echo_read_request_body;
        echo "$request_method len=$http_content_length xff=$http_x_forwarded_for";
        echo_request_body;
    }
--- request
POST /t
hello body
--- more_headers
X-Forwarded-For: 10.0.0.1
--- response_body chomp
POST len=10 xff=10.0.0.1, 127.0.0.1
hello body

=== TEST 13: a URI part in a regex location is refused at start
--- config
    location ~ ^/t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in .*nginx\.conf:\d+/

=== TEST 14: an upstream that names no host is refused at start
--- config
    location = /t {
        proxy_pass http://no-such-host.invalid/;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*host not found in upstream "no-such-host\.invalid" in .*nginx\.conf:\d+/

=== TEST 15: HEAD gets the upstream's head and no body
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back {
        return 200 "some body\n";
    }
--- request
HEAD /t
--- response_headers
Content-Length: 10
--- response_body

=== TEST 16: a body shorter than its length cuts the response and is logged
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
--- request
GET /t
--- ignore_response
--- error_log
upstream prematurely closed connection while reading upstream

=== TEST 17: keepalive connections to an upstream are reused (proxy_http_version 1.1, no Connection: close)
--- http_config
    upstream kept {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "$connection_requests\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local out = {}
            for i = 1, 4 do
                out[#out + 1] = ngx.location.capture("/p").body:sub(1, -2)
            end
            ngx.say(table.concat(out, " "))
        }
    }
    location = /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://kept;
    }
--- request
GET /t
--- response_body
1 2 3 4

=== TEST 18: without keepalive (or with Connection: close) every request has its own connection
--- http_config
    upstream kept {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "$connection_requests\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local out = {}
            for i = 1, 3 do
                out[#out + 1] = ngx.location.capture("/p").body:sub(1, -2)
            end
            ngx.say(table.concat(out, " "))
        }
    }
    location = /p {
        proxy_http_version 1.1;
        proxy_pass http://kept;
    }
--- request
GET /t
--- response_body
1 1 1

=== TEST 19: proxy_redirect default: the proxy_pass URL becomes the location's prefix (made absolute); off leaves it
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 302 http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/x;
        }
    }
--- config
    location /pre/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/;
    }
    location /nouri/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /off/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/;
        proxy_redirect off;
    }
--- pipelined_requests eval
["GET /pre/a", "GET /nouri/a", "GET /off/a"]
--- error_code eval
[302, 302, 302]
--- response_headers_like eval
["Location: http://localhost:\\d+/pre/x", "Location: http://localhost:\\d+/back/x", "Location: http://127\\.0\\.0\\.1:\\d+/back/x"]

=== TEST 20: proxy_redirect rules: text with variables, regexes with captures, Refresh's url=; the first match wins
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header Refresh "5; URL=http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/r";
            return 301 http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/x;
        }
    }
--- config
    location /text/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/;
        proxy_redirect http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/ http://$host/front/;
        proxy_redirect http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/ http://never/;
    }
    location /re/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/back/;
        proxy_redirect ~*^HTTP://[^/]+/back/(.*)$ /moved/$1;
    }
--- pipelined_requests eval
["GET /text/a", "GET /re/a"]
--- error_code eval
[301, 301]
--- response_headers_like eval
["Location: http://localhost/front/x\nRefresh: 5; URL=http://localhost/front/r", "Location: http://localhost:\\d+/moved/x\nRefresh: 5; URL=/moved/r"]

=== TEST 21: proxy_redirect default needs a proxy_pass before it, without variables
--- config
    location /t/ {
        proxy_redirect default;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
--- must_die
--- error_log
"proxy_redirect default" should be placed after the "proxy_pass" directive

=== TEST 22: proxy_redirect with one word other than default or off
--- config
    location /t/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
        proxy_redirect sometimes;
    }
--- must_die
--- error_log
invalid parameter "sometimes"

=== TEST 23: $upstream_http_NAME reads the answer's headers, hidden ones too; several of one name are joined (nginx 1.23+, current OpenResty)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header X-App-Id 42;
            add_header X-Multi a;
            add_header X-Multi b;
            add_header X-Accel-Expires 10;
            return 200 "body\n";
        }
    }
--- config
    location /t/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        header_filter_by_lua_block {
            ngx.header["X-Seen"] = ngx.var.upstream_http_x_app_id .. " "
                .. ngx.var.upstream_http_x_multi .. " "
                .. ngx.var.upstream_http_x_accel_expires .. " "
                .. tostring(ngx.var.upstream_http_x_none)
        }
    }
--- request
GET /t/
--- response_headers
X-Seen: 42 a, b 10 nil
X-Accel-Expires:
--- response_body
body

=== TEST 24: hash KEY picks by the key's CRC32 as nginx (the same server for a key; rehashed past a down one)
--- http_config
    upstream by_key {
        hash $arg_k;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2 weight=2;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
    }
    upstream by_key_down {
        hash $arg_k;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2 down;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "one\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location / { return 200 "two\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        location / { return 200 "three\n"; }
    }
--- config
    location /t {
        proxy_pass http://by_key;
    }
    location /down {
        proxy_pass http://by_key_down;
    }
--- pipelined_requests eval
["GET /t?k=a", "GET /t?k=b", "GET /t?k=c", "GET /t?k=user42", "GET /t?k=a", "GET /down?k=a", "GET /down?k=b", "GET /down?k=user42"]
--- response_body eval
["three\n", "two\n", "two\n", "three\n", "three\n", "three\n", "one\n", "one\n"]

=== TEST 25: ip_hash: a client's /24 picks the server (127.0.0.x: the third of three)
--- http_config
    upstream by_ip {
        ip_hash;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "one\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location / { return 200 "two\n"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        location / { return 200 "three\n"; }
    }
--- config
    location /t {
        proxy_pass http://by_ip;
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["three\n", "three\n", "three\n"]

=== TEST 26: balancing methods refuse what nginx refuses
--- http_config
    upstream u {
        ip_hash;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2 backup;
    }
--- config
--- must_die
--- error_log
balancing method does not support parameter "backup"

=== TEST 27: an upgrade (101) becomes a tunnel: bytes both ways, the client's early ones included, until the upstream closes
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                ngx.status = 101
                ngx.header["Upgrade"] = "websocket"
                ngx.send_headers()
                ngx.flush(true)
                local sock = assert(ngx.req.socket(true))
                local line = assert(sock:receive())
                assert(sock:send("echo: " .. line .. " (" .. ngx.var.http_upgrade .. ", " .. ngx.var.http_connection .. ")\n"))
                line = assert(sock:receive())
                assert(sock:send("echo: " .. line .. "\n"))
            }
        }
    }
--- config
    location /ws {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
--- raw_request eval
"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello\nagain\n"
--- error_code: 101
--- response_headers
Upgrade: websocket
Connection: upgrade
--- response_body
echo: hello (websocket, upgrade)
echo: again

=== TEST 28: an upgraded connection where nothing moves for proxy_read_timeout is closed, logged as nginx
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                ngx.status = 101
                ngx.header["Upgrade"] = "websocket"
                ngx.send_headers()
                ngx.flush(true)
                local sock = assert(ngx.req.socket(true))
                sock:settimeout(2000)
                sock:receive()
            }
        }
    }
--- config
    location /ws {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 300ms;
    }
--- raw_request eval
"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
--- error_code: 101
--- response_body
--- error_log
upstream timed out (110: Connection timed out) while proxying upgraded connection

=== TEST 29: proxy_intercept_errors: an answer the location has an error_page for is replaced by it; others pass
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location /missing { return 404 "upstream's 404\n"; }
        location /teapot { return 418 "upstream's 418\n"; }
    }
--- config
    location /on/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_intercept_errors on;
        error_page 404 /oops;
    }
    location /off/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        error_page 404 /oops;
    }
    location = /oops { return 200 "our page for $status\n"; }
--- pipelined_requests eval
["GET /on/missing", "GET /on/teapot", "GET /off/missing"]
--- error_code eval
[404, 418, 404]
--- response_body eval
["our page for 404\n", "upstream's 418\n", "upstream's 404\n"]

=== TEST 30: X-Accel-Redirect: an internal redirect (to a URI with its own args, or a named location) keeping Content-Type and Set-Cookie; X-Accel-Limit-Rate sets the rate; proxy_ignore_headers turns them off
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location /uri {
            add_header X-Accel-Redirect "/protected/file?from=upstream";
            add_header Set-Cookie "s=1";
            add_header X-Other dropped;
            add_header X-Accel-Limit-Rate 1048576;
            default_type text/x-kept;
            return 200 "upstream body\n";
        }
        location /named {
            add_header X-Accel-Redirect "@files";
            return 200 "upstream body\n";
        }
    }
--- config
    location /go/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
    location /ignored/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_ignore_headers X-Accel-Redirect X-Accel-Limit-Rate Expires;
    }
    location /protected/ {
        internal;
        content_by_lua_block {
            ngx.say("protected ", ngx.var.uri, "?", ngx.var.args, " ", ngx.req.get_method(), " rate=", ngx.var.limit_rate)
        }
    }
    location @files {
        content_by_lua_block { ngx.say("named ", ngx.var.uri) }
    }
--- pipelined_requests eval
["POST /go/uri?client=1", "GET /go/named", "GET /ignored/uri"]
--- response_headers eval
["Content-Type: text/x-kept\nSet-Cookie: s=1\nX-Other:", "", "X-Other: dropped"]
--- response_body eval
["protected /protected/file?from=upstream GET rate=1048576\n", "named /go/named\n", "upstream body\n"]

=== TEST 31: an unsafe X-Accel-Redirect is a 404
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header X-Accel-Redirect "/a/../../etc/passwd";
            return 200 "upstream body\n";
        }
    }
--- config
    location /go/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request
GET /go/
--- error_code: 404
--- error_log
unsafe URI "/a/../../etc/passwd" was detected

=== TEST 32: a client that leaves while the upstream thinks closes the upstream connection too (499)
--- http_config
    log_format status '$request $status';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block { ngx.sleep(1) ngx.say("late") }
        }
    }
--- config
    access_log logs/error.log status;
    location /go/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- log_level: info
--- request
GET /go/
--- timeout: 0.3
--- abort
--- ignore_response
--- wait: 0.5
--- error_log
epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream
GET /go/ HTTP/1.1 499

=== TEST 33: proxy_ignore_headers takes header names only
--- config
    location /t/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
        proxy_ignore_headers X-Nope;
    }
--- must_die
--- error_log
invalid value "X-Nope"

=== TEST 34: proxy_cookie_domain and proxy_cookie_path rewrite Set-Cookie's attributes (text and regex rules, the first match wins)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header Set-Cookie "a=1; Domain=.backend.internal; Path=/app/x; HttpOnly";
            add_header Set-Cookie "b=2; path=/other; domain=else.org";
            add_header Set-Cookie "c=3";
            return 200 "ok\n";
        }
    }
--- config
    location /t/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_cookie_domain backend.internal $host;
        proxy_cookie_domain ~^(.+)\.org$ $1.net;
        proxy_cookie_path /app/ /t/;
        proxy_cookie_path ~*^/OTHER$ /moved;
    }
--- request
GET /t/
--- raw_response_headers_like
Set-Cookie: a=1; Domain=\.localhost; Path=/t/x; HttpOnly\r
Set-Cookie: b=2; path=/moved; domain=else\.net\r
Set-Cookie: c=3\r

=== TEST 35: an upstream that resets the connection is a 502 with nginx's line
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                local sock = ngx.req.socket(true)
                sock:setoption("linger", 0)
                sock:close()
            }
        }
    }
--- config
    location /reset { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- request
GET /reset
--- error_code: 502
--- error_log eval
qr/(recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely closed connection) while reading response header from upstream/

=== TEST 36: an upstream head bigger than proxy_buffer_size is a 502 with nginx's line
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                ngx.header["X-Big"] = string.rep("x", 8000)
                ngx.say("body")
            }
        }
    }
--- config
    location /huge { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
--- request
GET /huge
--- error_code: 502
--- error_log
upstream sent too big header while reading response header from upstream

=== TEST 37: ngx.location.capture into a proxied location gets the upstream's answer
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header X-From upstream;
            return 201 "made $request_uri\n";
        }
    }
--- config
    location /p/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
    location /t {
        content_by_lua_block {
            local res = ngx.location.capture("/p/thing?x=1")
            ngx.print(res.status, " ", res.header["X-From"], " ", res.body)
        }
    }
--- request
GET /t
--- response_body
201 upstream made /thing?x=1

=== TEST 38: a request body spooled to a temp file goes to the upstream whole
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        client_max_body_size 1m;
        location / {
            content_by_lua_block {
                ngx.req.read_body()
                local d = ngx.req.get_body_data()
                if not d then
                    local f = io.open(ngx.req.get_body_file(), "rb")
                    d = f:read("*a")
                    f:close()
                end
                ngx.say(ngx.var.http_content_length, " ", #d, " ", ngx.md5(d))
            }
        }
    }
--- config
    client_body_buffer_size 8k;
    location /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- request eval
"POST /t\n" . ("a" x 100000)
--- response_body
100000 100000 1af6d6f2f682f76f80e606aeaaee1680

=== TEST 39: proxy_request_buffering off: a body with a length goes on as it comes, with its length
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                ngx.req.read_body()
                local d = ngx.req.get_body_data() or ""
                ngx.say(ngx.var.http_content_length or "-", " ", ngx.var.http_transfer_encoding or "-", " ", #d, " ", d:sub(1, 5))
            }
        }
    }
--- config
    location /t {
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello", " world"]
--- raw_request_middle_delay: 0.1
--- response_body
11 - 11 hello

=== TEST 40: proxy_request_buffering off: a chunked body goes on chunked to an HTTP/1.1 upstream (a body that came whole with the head goes whole, as nginx)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                ngx.req.read_body()
                local d = ngx.req.get_body_data() or ""
                ngx.say(ngx.var.http_content_length or "-", " ", ngx.var.http_transfer_encoding or "-", " ", #d, " ", d:sub(1, 5))
            }
        }
    }
--- config
    location /t {
        proxy_request_buffering off;
        proxy_http_version 1.1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- raw_request eval
["POST /t HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n", "6\r\n world\r\n0\r\n\r\n"]
--- raw_request_middle_delay: 0.1
--- response_body
- chunked 11 hello

=== TEST 41: proxy_pass_header Server and Date: the upstream's go instead of ours
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block {
                ngx.header["Server"] = "backend/1.0"
                ngx.say("ok")
            }
        }
    }
--- config
    location /pass {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_pass_header Server;
    }
    location /hide {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- pipelined_requests eval
["GET /pass", "GET /hide"]
--- response_headers eval
["Server: backend/1.0", ""]
--- raw_response_headers_like eval
["Server: backend/1.0\r\n", "Server: (?!backend)"]

=== TEST 42: an intercepted 401 keeps the upstream's WWW-Authenticate (and nothing else of its head) for the error page
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            add_header WWW-Authenticate 'Basic realm="up"' always;
            add_header X-Other up always;
            return 401 "upstream 401\n";
        }
    }
--- config
    location /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_intercept_errors on;
        error_page 401 /e;
    }
    location /e { return 200 "custom page\n"; }
--- request
GET /p
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="up"
X-Other:
--- response_body
custom page



=== TEST 43: proxy_cookie_flags: Secure, HttpOnly and SameSite added, changed or removed per cookie, as nginx writes them
--- config
    location /up {
        add_header Set-Cookie "a=1; Path=/; Secure";
        add_header Set-Cookie "b=2; HttpOnly; SameSite=Lax";
        add_header Set-Cookie "c=3";
        add_header Set-Cookie "e=5; secure; samesite=lax";
        add_header Set-Cookie "dd=4; secure; samesite=strict";
        add_header Set-Cookie "z=9; Secure";
        return 200 "x";
    }
    location /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
        proxy_cookie_flags a nosecure httponly;
        proxy_cookie_flags ~^b nohttponly samesite=strict secure;
        proxy_cookie_flags c samesite=none httponly secure;
        proxy_cookie_flags e samesite=lax httponly secure;
        proxy_cookie_flags ~d nosamesite nosecure;
    }
--- request
GET /t
--- raw_response_headers_like
Set-Cookie: a=1; Path=/; HttpOnly\r
Set-Cookie: b=2; SameSite=Strict; Secure\r
Set-Cookie: c=3; Secure; HttpOnly; SameSite=None\r
Set-Cookie: e=5; secure; samesite=lax; HttpOnly\r
Set-Cookie: dd=4\r
Set-Cookie: z=9; Secure\r



=== TEST 44: proxy_cookie_flags: flags from variables; a word that is no flag is ignored (as nginx)
--- config
    location /up {
        add_header Set-Cookie "a=1";
        add_header Set-Cookie "b=2; Secure";
        return 200 "x";
    }
    location /t {
        set $flag httponly;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
        proxy_cookie_flags a $flag sometimes;
        proxy_cookie_flags ~ nosecure;
    }
--- request
GET /t
--- raw_response_headers_like
Set-Cookie: a=1; HttpOnly\r
Set-Cookie: b=2\r



=== TEST 45: proxy_cookie_flags off in a location undoes the server's rules
--- config
    proxy_cookie_flags ~ secure;
    location /up {
        add_header Set-Cookie "a=1";
        return 200 "x";
    }
    location /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
        proxy_cookie_flags off;
    }
    location /s {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up;
    }
--- pipelined_requests eval
["GET /t", "GET /s"]
--- response_headers eval
["Set-Cookie: a=1", "Set-Cookie: a=1; Secure"]



=== TEST 46: proxy_bind: connections start from the address given (fixed, or from variables; empty binds nothing, a value that is no address is logged and binds nothing); off undoes the server's
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        return 200 "from $remote_addr\n";
    }
--- config
    proxy_bind 127.0.0.2;
    location /fixed {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /var {
        set $local 127.0.0.3;
        proxy_bind $local;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /empty {
        set $local "";
        proxy_bind $local;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /nonsense {
        set $local "not an address";
        proxy_bind $local;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location /off {
        proxy_bind off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    location = /t {
        content_by_lua_block {
            for _, u in ipairs{"/fixed", "/var", "/empty", "/nonsense", "/off"} do
                local res = ngx.location.capture(u)
                ngx.print(u, " ", res.status, " ", res.body)
            end
        }
    }
--- request
GET /t
--- response_body
/fixed 200 from 127.0.0.2
/var 200 from 127.0.0.3
/empty 200 from 127.0.0.1
/nonsense 200 from 127.0.0.1
/off 200 from 127.0.0.1
--- error_log
invalid local address "not an address"



=== TEST 47: proxy_bind to an address the host does not have: 500, logged at crit as nginx, no other server tried
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        return 200 "from $remote_addr\n";
    }
--- config
    location /t {
        proxy_bind 192.0.2.1;
        proxy_pass http://two;
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/\[crit\] .*bind\(192\.0\.2\.1\) failed \(99: Cannot assign requested address\) while connecting to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/t"/



=== TEST 48: proxy_bind with a fixed value that is no address, or a stray parameter, is refused at start
--- config
    location /t {
        proxy_bind 300.1.2.3;
        proxy_pass http://127.0.0.1:1;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid address "300\.1\.2\.3" in .*nginx\.conf:\d+/

=== TEST 49: a kept connection its upstream closed meanwhile is not used: the next request opens another
--- http_config
    upstream kept {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        keepalive_timeout 100ms;
        location / {
            return 200 "$connection_requests\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local out = {}
            for i = 1, 3 do
                out[#out + 1] = ngx.location.capture("/p").body:sub(1, -2)
                if i == 1 then ngx.sleep(0.3) end
            end
            ngx.say(table.concat(out, " "))
        }
    }
    location = /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://kept;
    }
--- request
GET /t
--- response_body
1 1 2
--- no_error_log
[error]

=== TEST 50: proxy_next_upstream http_500: a 500 goes on to the next server, and counts against the one that sent it
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 500 "bad\n";
        }
    }
--- config
    location = /t {
        proxy_next_upstream http_500;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Status: 500, 200
--- response_body
ok
--- error_log
upstream server temporarily disabled while reading response header from upstream
--- no_error_log
[error]

=== TEST 51: a POST that reached the server is not sent again after a 500 (its answer goes to the client, not counted)
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 500 "bad\n";
        }
    }
--- config
    location = /t {
        proxy_next_upstream http_500;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status always;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
POST /t
body
--- error_code: 500
--- response_headers
X-Status: 500
--- response_body
bad
--- no_error_log
temporarily disabled

=== TEST 52: with non_idempotent the POST goes on to the next server
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 500 "bad\n";
        }
    }
--- config
    location = /t {
        proxy_next_upstream http_500 non_idempotent;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status;
    }
    location = /back {
        echo_read_request_body;
        echo_request_body;
    }
--- request
POST /t
body
--- response_headers
X-Status: 500, 200
--- response_body chomp
body

=== TEST 53: proxy_next_upstream off stops at the first failure (a 502; the server still counted)
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    location = /t {
        proxy_next_upstream off;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status always;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- error_code: 502
--- response_headers
X-Status: 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream
upstream server temporarily disabled while connecting to upstream

=== TEST 54: proxy_next_upstream_tries 1 stops at the first failure too
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    location = /t {
        proxy_next_upstream_tries 1;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status always;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- error_code: 502
--- response_headers
X-Status: 502
--- error_log
upstream server temporarily disabled while connecting to upstream

=== TEST 55: proxy_next_upstream http_404: a 404 goes on without counting against its server
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 404 "no\n";
        }
    }
--- config
    location = /t {
        proxy_next_upstream http_404;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Status: 404, 200
--- response_body
ok
--- no_error_log
temporarily disabled

=== TEST 56: $proxy_host and $proxy_port
--- config
    location = /t {
        proxy_set_header X-PH "$proxy_host $proxy_port";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back {
        return 200 "$http_x_ph\n";
    }
--- request
GET /t
--- response_body_like chomp
^127\.0\.0\.1:(\d+) \1$

=== TEST 57: the upstream's times, bytes and length once the answer is through
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
        log_by_lua_block {
            local v = ngx.var
            ngx.log(ngx.WARN, "vars: ", v.upstream_connect_time, "|", v.upstream_header_time, "|",
                    v.upstream_response_time, "|", v.upstream_bytes_sent, "|", v.upstream_bytes_received, "|",
                    v.upstream_response_length, "|", v.upstream_status)
        }
    }
    location = /back {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- error_log eval
qr/vars: \d+\.\d{3}\|\d+\.\d{3}\|\d+\.\d{3}\|[1-9]\d+\|[1-9]\d+\|6\|200/

=== TEST 58: proxy_next_upstream_timeout: no other server once it has passed
--- http_config
    upstream two {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block { ngx.sleep(0.3) ngx.say("slow") }
        }
    }
--- config
    location = /t {
        proxy_read_timeout 100ms;
        proxy_next_upstream error timeout;
        proxy_next_upstream_timeout 50ms;
        proxy_pass http://two/back;
        add_header X-Status $upstream_status always;
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- error_code: 504
--- response_headers
X-Status: 504
--- error_log
upstream server temporarily disabled while reading response header from upstream
upstream timed out (110: Connection timed out) while reading response header from upstream

=== TEST 59: max_conns: a server with as many connections as it may have is passed over
--- http_config
    upstream mc {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1 weight=10 max_conns=1;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block { ngx.sleep(0.1) ngx.say("slow") }
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local a, b = ngx.location.capture_multi({ { "/p" }, { "/p" } })
            ngx.print(a.body, b.body)
        }
    }
    location = /p {
        proxy_pass http://mc/back;
    }
    location = /back {
        return 200 "fast\n";
    }
--- request
GET /t
--- response_body
slow
fast

=== TEST 60: proxy_pass_request_body off: the body stays here, and so does its length (see compat.md)
--- config
    location = /t {
        proxy_pass_request_body off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back {
        return 200 "cl=$http_content_length method=$request_method\n";
    }
--- request
POST /t
hello
--- response_body
cl= method=POST

=== TEST 61: proxy_ignore_client_abort on: the upstream's answer is awaited after the client left
--- http_config
    log_format status '$request $status';
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            content_by_lua_block { ngx.sleep(0.4) ngx.say("late") }
        }
    }
--- config
    access_log logs/error.log status;
    location /go/ {
        proxy_ignore_client_abort on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- log_level: info
--- request
GET /go/
--- timeout: 0.2
--- abort
--- ignore_response
--- wait: 0.6
--- error_log
GET /go/ HTTP/1.1 200
--- no_error_log
prematurely closed connection, so upstream connection is closed too

=== TEST 62: proxy_send_timeout: an upstream that takes none of the body for that long ends the try (504)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        client_max_body_size 16m;
        location / {
            content_by_lua_block { ngx.sleep(1) ngx.say("late") }
        }
    }
--- config
    location = /t {
        client_max_body_size 16m;
        proxy_send_timeout 200ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- request eval
"POST /t\n" . ("x" x 8388608)
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while sending request to upstream
--- timeout: 5

=== TEST 63: proxy_busy_buffers_size must leave one of proxy_buffers free: refused at start
--- config
    location /t {
        proxy_buffers 4 4k;
        proxy_busy_buffers_size 64k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer in .*nginx\.conf:\d+/

=== TEST 64: two buffers are too few for the default busy size (twice one buffer), in a location that proxies nothing too
--- config
    location /t {
        proxy_buffers 2 4k;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"proxy_busy_buffers_size" must be less than the size of all "proxy_buffers" minus one buffer in .*nginx\.conf:\d+/

=== TEST 65: proxy_busy_buffers_size, proxy_temp_file_write_size and proxy_max_temp_file_size may not be below proxy_buffer_size
--- config
    proxy_buffer_size 8k;
    location /t {
        proxy_temp_file_write_size 16k;
        proxy_max_temp_file_size 4k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"proxy_max_temp_file_size" must be equal to zero to disable temporary files usage or must be equal to or greater than the maximum of the value of "proxy_buffer_size" and one of the "proxy_buffers" in .*nginx\.conf:\d+/

=== TEST 66: the upstream stays in the log's context to the request's end: its log phase
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
        log_by_lua_block { ngx.log(ngx.WARN, "logged ok") }
    }
    location = /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/logged ok while logging request, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/back", host: "localhost"/

=== TEST 67: and an error page's, after a failed try
--- config
    location = /t {
        error_page 502 = /fallback;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/back;
    }
    location = /fallback {
        return 200 "fallback\n";
        log_by_lua_block { ngx.log(ngx.WARN, "logged fallback") }
    }
--- request
GET /t
--- response_body
fallback
--- error_log eval
qr/logged fallback while logging request, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/back", host: "localhost"/

=== TEST 68: keepalive_requests in an upstream: a kept connection serves that many requests, then a new one is opened
--- http_config
    upstream kept {
        server 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        keepalive 4;
        keepalive_requests 2;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / {
            return 200 "$connection_requests\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local out = {}
            for i = 1, 5 do
                out[#out + 1] = ngx.location.capture("/p").body:sub(1, -2)
            end
            ngx.say(table.concat(out, " "))
        }
    }
    location = /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://kept;
    }
--- request
GET /t
--- response_body
1 2 1 2 1
--- no_error_log
[error]
