# balancer_by_lua* and ngx.balancer, as lua-nginx-module and lua-resty-core answer
# (checked side by side with Debian's nginx and its Lua modules, where they differ from
# current OpenResty the block says so).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);

$ENV{TEST_NGINX_CERT_DIR} ||= dirname(abs_path(__FILE__)) . "/cert";

run_tests();

__DATA__

=== TEST 1: set_current_peer picks the server; the request's variables and ngx.ctx are there; the phase is "balancer"
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            ngx.log(ngx.WARN, "phase: ", ngx.get_phase(), ", arg: ", ngx.var.arg_who, ", ctx: ", ngx.ctx.from_access)
            assert(b.set_current_peer("127.0.0.1", tonumber(ngx.var.server_port) + 0 == 0 and 1 or $TEST_NGINX_RAND_PORT_1))
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend got $request_uri\n"; }
    }
--- config
    location /t {
        access_by_lua_block { ngx.ctx.from_access = "yes" }
        proxy_pass http://backend;
    }
--- request
GET /t?who=me
--- response_body
backend got /t?who=me
--- error_log
phase: balancer, arg: me, ctx: yes
--- no_error_log
[error]

=== TEST 2: retries: set_more_tries, get_last_failure with the failed try's status, the next peer
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            local state, status = b.get_last_failure()
            ngx.log(ngx.WARN, "last failure: ", tostring(state), " ", tostring(status))
            if not state then
                assert(b.set_more_tries(1))
                -- nothing listens on port 1
                assert(b.set_current_peer("127.0.0.1", 1))
            else
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            end
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "second try\n"; }
    }
--- config
    location /t {
        proxy_pass http://backend;
    }
--- request
GET /t
--- response_body
second try
--- error_log eval
[
qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream, .*upstream: "http:\/\/127\.0\.0\.1:1\/t"/,
"last failure: nil nil",
"last failure: failed 502",
]

=== TEST 3: no peer set: the placeholder is never tried (a block without servers: current lua-nginx-module, not Debian's 0.10.23)
--- http_config
    upstream backend {
        balancer_by_lua_block {
            ngx.log(ngx.INFO, "not choosing")
        }
    }
--- config
    location /t {
        proxy_pass http://backend;
    }
--- request
GET /t
--- error_code: 500
--- error_log
lua balancer: no peer set

=== TEST 4: a Lua error fails the request with 500, logged as OpenResty logs it
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            error("no backend for you")
        }
    }
--- config
    location /t {
        proxy_pass http://backend;
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
qr/failed to run balancer_by_lua\*: balancer_by_lua\(nginx\.conf:\d+\):2: no backend for you/

=== TEST 5: ngx.exit with a status ends the request with it (current OpenResty's balancer status patch; Debian's nginx answers 500); ngx.exit(ngx.ERROR) is a 500
--- http_config
    upstream status {
        server 0.0.0.1;
        balancer_by_lua_block { ngx.exit(503) }
    }
    upstream err {
        server 0.0.0.1;
        balancer_by_lua_block { ngx.exit(ngx.ERROR) }
    }
--- config
    location /status { proxy_pass http://status; }
    location /err { proxy_pass http://err; }
--- pipelined_requests eval
["GET /status", "GET /err"]
--- error_code eval
[503, 500]

=== TEST 6: outside balancer_by_lua the API answers nil and an error
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "proxied\n"; }
    }
--- config
    location /t {
        content_by_lua_block {
            local b = require "ngx.balancer"
            ngx.say(b.set_current_peer("127.0.0.1", 80))
            ngx.say(b.set_more_tries(1))
            ngx.say(b.get_last_failure())
        }
    }
    location /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        header_filter_by_lua_block {
            local b = require "ngx.balancer"
            ngx.header["X-Peer"] = select(2, b.set_current_peer("127.0.0.1", 80))
        }
    }
--- pipelined_requests eval
["GET /t", "GET /p"]
--- response_body eval
["nilno upstream found\nnilno upstream found\nnilnilno upstream found\n", "proxied\n"]
--- response_headers eval
["", "X-Peer: API disabled in the current context"]

=== TEST 7: a host name is no peer; a bad port is refused
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            ngx.log(ngx.WARN, "name: ", select(2, b.set_current_peer("localhost", 80)))
            ngx.log(ngx.WARN, "port: ", select(2, b.set_current_peer("127.0.0.1:nope", 80)))
            ngx.exit(ngx.ERROR)
        }
    }
--- config
    location /t { proxy_pass http://backend; }
--- request
GET /t
--- error_code: 500
--- error_log
name: no host allowed
port: invalid port

=== TEST 8: set_more_tries stays within proxy_next_upstream_tries, with lua-resty-core's warning
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            local ok, warn = b.set_more_tries(5)
            ngx.log(ngx.WARN, "more tries: ", tostring(ok), " ", tostring(warn))
            assert(b.set_current_peer("127.0.0.1", 1))
        }
    }
--- config
    location /t {
        proxy_next_upstream_tries 2;
        proxy_pass http://backend;
    }
--- request
GET /t
--- error_code: 502
--- error_log
more tries: true reduced tries due to limit
connect() failed (111: Connection refused)

=== TEST 9: set_timeouts applies to the try (a slow server is a 504 after its read timeout)
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            assert(b.set_timeouts(1, 1, 0.2))
            assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { content_by_lua_block { ngx.sleep(1) ngx.say("late") } }
    }
--- config
    location /t {
        proxy_pass http://backend;
    }
--- request
GET /t
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while reading response header from upstream

=== TEST 10: bad timeouts and keepalive arguments raise lua-resty-core's errors (enable_keepalive: current lua-resty-core, not Debian's)
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            ngx.log(ngx.WARN, "timeout: ", select(2, pcall(b.set_timeouts, 0)))
            ngx.log(ngx.WARN, "keepalive: ", select(2, pcall(b.enable_keepalive, "x")))
            ngx.log(ngx.WARN, "no peer: ", select(2, b.enable_keepalive()))
            ngx.exit(ngx.ERROR)
        }
    }
--- config
    location /t { proxy_pass http://backend; }
--- request
GET /t
--- error_code: 500
--- error_log
timeout: bad connect timeout
keepalive: bad argument #1 to 'enable_keepalive' (number expected, got string)
no peer: no current peer set

=== TEST 11: beyond OpenResty: the balancer may wait (ngx.sleep, a cosocket)
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            ngx.sleep(0.01)
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            assert(sock:send("GET /port HTTP/1.0\r\nHost: x\r\n\r\n"))
            local body = assert(sock:receive("*a")):match("\r\n\r\n(%d+)")
            sock:close()
            assert(b.set_current_peer("127.0.0.1", tonumber(body)))
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location /port { return 200 "$TEST_NGINX_RAND_PORT_2"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        location / { return 200 "found by asking\n"; }
    }
--- config
    location /t {
        proxy_pass http://backend;
    }
--- request
GET /t
--- response_body
found by asking

=== TEST 12: enable_keepalive keeps the chosen server's connection for the next request (current lua-resty-core, not Debian's)
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            assert(b.enable_keepalive(10, 100))
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "request $connection_requests on its connection\n"; }
    }
--- config
    location /t {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://backend;
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["request 1 on its connection\n", "request 2 on its connection\n", "request 3 on its connection\n"]

=== TEST 13: balancer_by_lua belongs in upstream blocks; one per block
--- config
    location /t {
        balancer_by_lua_block { }
    }
--- must_die
--- error_log
"balancer_by_lua_block" directive is not allowed here



=== TEST 14: set_upstream_tls(false) speaks plain HTTP to an https:// upstream's server; true keeps TLS (current lua-resty-core, not Debian's)
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            if ngx.var.uri:find("plain", 1, true) then
                assert(b.set_upstream_tls(false))
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_2))
            else
                assert(b.set_upstream_tls(true))
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            end
        }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        return 200 "tls: $https\n";
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        return 200 "plain: $scheme\n";
    }
--- config
    location /p/ {
        proxy_pass https://backend/;
    }
    location = /t {
        echo_location /p/tls;
        echo_location /p/plain;
    }
--- request
GET /t
--- response_body
tls: on
plain: http
--- no_error_log
[error]



=== TEST 15: bind_to_local_addr: the connection starts from that address (and kept connections of another are not reused); a value that is no address is refused (current lua-resty-core, not Debian's)
--- http_config
    upstream backend {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            local local_addr = ngx.var.arg_from and ngx.unescape_uri(ngx.var.arg_from)
            if local_addr then
                local ok, err = b.bind_to_local_addr(local_addr)
                if not ok then
                    ngx.log(ngx.ERR, "bind_to_local_addr: ", err)
                end
            end
            assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
        }
        keepalive 8;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        return 200 "from $remote_addr\n";
    }
--- config
    location /p {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://backend;
    }
    location = /t {
        content_by_lua_block {
            for _, a in ipairs{"127.0.0.2", "127.0.0.3", "127.0.0.2:0", "", "127.0.0.4"} do
                local res = ngx.location.capture("/p", { args = a ~= "" and { from = a } or nil })
                ngx.print(a, ": ", res.body)
            end
        }
    }
--- request
GET /t
--- response_body
127.0.0.2: from 127.0.0.2
127.0.0.3: from 127.0.0.3
127.0.0.2:0: from 127.0.0.1
: from 127.0.0.1
127.0.0.4: from 127.0.0.4
--- error_log
bind_to_local_addr: invalid addr 127.0.0.2:0

=== TEST 16: in a timer and in init_worker_by_lua (a fake request in OpenResty, with no upstream) the API answers nil and "no upstream found"
--- http_config
    init_worker_by_lua_block {
        local b = require "ngx.balancer"
        local ok, a, e = pcall(b.set_current_peer, "127.0.0.1", 80)
        ngx.log(ngx.WARN, "init_worker peer: ", ok, " ", a, " ", e)
        ok, a, e = pcall(b.set_more_tries, 1)
        ngx.log(ngx.WARN, "init_worker tries: ", ok, " ", a, " ", e)
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.timer.at(0, function()
                local b = require "ngx.balancer"
                local ok, a, e = pcall(b.set_current_peer, "127.0.0.1", 80)
                ngx.log(ngx.WARN, "timer peer: ", ok, " ", a, " ", e)
                local ok, a, e, f = pcall(b.get_last_failure)
                ngx.log(ngx.WARN, "timer failure: ", ok, " ", a, " ", e, " ", f)
            end)
            ngx.sleep(0.05)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
init_worker peer: true nil no upstream found
init_worker tries: true nil no upstream found
timer peer: true nil no upstream found
timer failure: true nil nil no upstream found

=== TEST 17: recreate_request: a retry sends the head made again, with what the balancer changed (without it, the head made before the first try)
--- http_config
    upstream back {
        server 0.0.0.1;
        balancer_by_lua_block {
            local b = require "ngx.balancer"
            if not b.get_last_failure() then
                ngx.var.try_no = "1"
                assert(b.set_more_tries(1))
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_RAND_PORT_2))
            else
                ngx.var.try_no = "2"
                if ngx.var.arg_recreate then
                    assert(b.recreate_request())
                end
                assert(b.set_current_peer("127.0.0.1", $TEST_NGINX_SERVER_PORT))
            end
        }
    }
--- config
    location = /t {
        set $try_no 0;
        proxy_set_header X-Try $try_no;
        proxy_pass http://back/back;
    }
    location = /back {
        return 200 "try=$http_x_try\n";
    }
--- pipelined_requests eval
["GET /t?recreate=1", "GET /t"]
--- response_body eval
["try=2\n", "try=0\n"]
