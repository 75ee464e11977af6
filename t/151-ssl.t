# HTTPS serving (listen … ssl, the ssl_* directives, SNI, 497, client certificates, the
# $ssl_* variables) and TLS from Lua cosockets (sslhandshake, lua_ssl_*), with the
# certificates of t/cert (t/cert/make.sh). Checked side by side with Debian's nginx 1.22
# + lua-nginx-module 0.10.23 where it has the feature.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_CERT_DIR} ||= dirname(abs_path(__FILE__)) . "/cert";

no_long_string();
run_tests();

__DATA__

=== TEST 1: a cosocket speaks TLS to an https server; verified with lua_ssl_trusted_certificate; the server's variables (lua_ssl_protocols' default stops at TLSv1.2)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local res, err = require("https_get")("/", "test.com", true)
            ngx.say(res or err)
        }
    }
--- request
GET /t
--- response_body
200 scheme=https https=on sni=test.com proto=TLSv1.2 reused=. verify=NONE
--- no_error_log
[error]
[crit]



=== TEST 2: verification against no trusted CA fails with OpenSSL's code and text, logged
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("unix:$TEST_NGINX_HTML_DIR/https.sock"))
            local sess, err = sock:sslhandshake(nil, "test.com", true)
            ngx.say(sess, " ", err)
            ngx.say(sock:send("x"))
        }
    }
--- request
GET /t
--- response_body_like chomp
^nil (20: unable to get local issuer certificate|21: unable to verify the first certificate)
nilclosed
$
--- error_log eval
qr/lua ssl certificate verify error: \((20: unable to get local issuer certificate|21: unable to verify the first certificate)\)/



=== TEST 3: a name the certificate does not carry: certificate host mismatch
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local res, err = require("https_get")("/", "other.com", true)
            ngx.say(res, " ", err)
        }
    }
--- request
GET /t
--- response_body
nil certificate host mismatch
--- error_log
lua ssl certificate does not match host "other.com"



=== TEST 4: without verification any certificate is taken; a wildcard name matches when verified
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local res, sess = require("https_get")("/", "other.com", false)
            ngx.say(res, " ", sess ~= nil)
            res, sess = require("https_get")("/", "www.test.com", true)
            ngx.say(res, " ", sess ~= nil)
        }
    }
--- request
GET /t
--- response_body
200 scheme=https https=on sni=other.com proto=TLSv1.2 reused=. verify=NONE true
200 scheme=https https=on sni=www.test.com proto=TLSv1.2 reused=. verify=NONE true



=== TEST 5: SNI picks the server block (its certificate and its locations)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name other.org;
        ssl_certificate $TEST_NGINX_CERT_DIR/other-name.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/other-name.key;
        location / {
            return 200 "other.org sni=$ssl_server_name\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say((require("https_get")("/", "other.org", true)))
            ngx.say((require("https_get")("/", "test.com", true)))
            -- an unknown name: the address's default server
            ngx.say((require("https_get")("/", "nowhere.net", false, nil, "test.com")))
        }
    }
--- request
GET /t
--- response_body
200 other.org sni=other.org
200 scheme=https https=on sni=test.com proto=TLSv1.2 reused=. verify=NONE
200 scheme=https https=on sni=nowhere.net proto=TLSv1.2 reused=. verify=NONE
--- no_error_log
[error]



=== TEST 6: the session of one handshake is offered by the next and reused (TLSv1.2, builtin cache)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_protocols TLSv1.2;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_session_cache builtin:100;
        ssl_session_tickets off;
        location / {
            return 200 "proto=$ssl_protocol reused=$ssl_session_reused\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local res, sess = require("https_get")("/", "test.com", true)
            ngx.say(res)
            ngx.say((require("https_get")("/", "test.com", true, sess)))
            ngx.say((require("https_get")("/", "test.com", true, false)))
        }
    }
--- request
GET /t
--- response_body
200 proto=TLSv1.2 reused=.
200 proto=TLSv1.2 reused=r
200 proto=TLSv1.2 reused=.



=== TEST 7: reused_session false: true instead of a session
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("unix:$TEST_NGINX_HTML_DIR/https.sock"))
            ngx.say(sock:sslhandshake(false))
            -- a second handshake on a TLS connection answers at once
            ngx.say(sock:sslhandshake(false))
            sock:close()
            ngx.say(sock:sslhandshake(false))
        }
    }
--- request
GET /t
--- response_body
true
true
nilclosed



=== TEST 8: plain HTTP to an ssl port: nginx's 400 page, logged at info; error_page 497 redirects
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "scheme=$scheme https=$https sni=$ssl_server_name proto=$ssl_protocol reused=$ssl_session_reused verify=$ssl_client_verify\n";
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https2.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        error_page 497 =301 https://$host$request_uri;
    }
--- config
    location = /t {
        content_by_lua_block {
            for _, s in ipairs{"https", "https2"} do
                local sock = ngx.socket.tcp()
                assert(sock:connect("unix:$TEST_NGINX_HTML_DIR/" .. s .. ".sock"))
                sock:send("GET /x?a=1 HTTP/1.1\r\nHost: test.com\r\n\r\n")
                local res = sock:receive("*a")
                ngx.say(res:match("^[^\r]*"), " | ", res:match("\r\nLocation: ([^\r]*)") or "-",
                        " | ", res:match("\r\nConnection: ([^\r]*)"), " | ", res:match("<title>(.-)</title>"))
            end
        }
    }
--- request
GET /t
--- response_body
HTTP/1.1 400 Bad Request | - | close | 400 The plain HTTP request was sent to HTTPS port
HTTP/1.1 301 Moved Permanently | https://test.com/x?a=1 | close | 301 Moved Permanently
--- error_log
client sent plain HTTP request to HTTPS port while reading client request headers



=== TEST 9: ssl_verify_client on without a client certificate: 400 "No required SSL certificate was sent"
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        ssl_verify_client on;
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local res = require("https_get")("/", "test.com", true)
            ngx.say(res:match("^%d+"), " ", res:match("<title>(.-)</title>"))
        }
    }
--- request
GET /t
--- response_body
400 400 No required SSL certificate was sent
--- error_log
client sent no required SSL certificate



=== TEST 10: an expired certificate fails verification
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/expired.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/expired.key;
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_get")("/", "test.com", true))
        }
    }
--- request
GET /t
--- response_body
nil10: certificate has expired



=== TEST 11: RSA and ECDSA certificates side by side: a client taking only ECDSA gets that one
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_protocols TLSv1.2;
    lua_ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-ecdsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-ecdsa.key;
        location / {
            return 200 "$ssl_protocol $ssl_cipher\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say((require("https_get")("/", "test.com", true)))
        }
    }
--- request
GET /t
--- response_body
200 TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256



=== TEST 12: a chain file, an encrypted key with ssl_password_file (the second password fits)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa-chain.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa-enc.key;
        ssl_password_file $TEST_NGINX_CERT_DIR/passwords;
        location / {
            return 200 "ok\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say((require("https_get")("/", "test.com", true)))
        }
    }
--- request
GET /t
--- response_body
200 ok



=== TEST 13: ssl_protocols TLSv1.2 on the server: a TLSv1.3-only client fails the handshake, logged at info by the server, at error by the cosocket
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_protocols TLSv1.3;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_protocols TLSv1.2;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_get")("/", "test.com", true))
        }
    }
--- request
GET /t
--- response_body
nilhandshake failed
--- error_log eval
[qr/\[info\] .* SSL_do_handshake\(\) failed \(SSL: error:0A000102:SSL routines::unsupported protocol\) while SSL handshaking, client: unix:, server: unix:/,
qr/\[error\] .*SSL_do_handshake\(\) failed \(SSL: error:0A00042E:SSL routines::tlsv1 alert protocol version:SSL alert number 70\), client: 127\.0\.0\.1, server: localhost, request/]



=== TEST 14: listen … ssl with no certificate is refused at start
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive in .*nginx\.conf:\d+/



=== TEST 15: a certificate file that does not exist
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate /no/such.crt;
        ssl_certificate_key /no/such.key;
    }
--- config
--- must_die
--- error_log
cannot load certificate "/no/such.crt": BIO_new_file() failed (SSL: error:80000002:system library::No such file or directory



=== TEST 16: a bad protocol name
--- http_config
    ssl_protocols TLSv1.2 TLSv9;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "TLSv9" in .*nginx\.conf:\d+/



=== TEST 17: proxy_pass to an https upstream: SNI and verification with proxy_ssl_*
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        location / {
            return 200 "upstream: scheme=$scheme sni=[$ssl_server_name] uri=$request_uri\n";
        }
    }
--- config
    location /sni/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_server_name on;
        proxy_ssl_name test.com;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    }
    location /nosni/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        # (a session resumed from /sni/'s, kept per server, would carry its name)
        proxy_ssl_session_reuse off;
    }
    location = /t {
        echo_location /sni/a?x=1;
        echo_location /nosni/b;
    }
--- request
GET /t
--- response_body
upstream: scheme=https sni=[test.com] uri=/a?x=1
upstream: scheme=https sni=[] uri=/b
--- no_error_log
[error]



=== TEST 18: proxy_ssl_verify: a name the certificate does not carry, a chain from another CA: 502, logged as nginx
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        return 200 "in\n";
    }
--- config
    location /name/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_name other.org;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    }
    location /chain/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_name test.com;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/other-ca.crt;
        # (nginx keeps a server's session even from a try whose name check failed, and a
        # resumed session is not verified again)
        proxy_ssl_session_reuse off;
    }
    location = /t {
        content_by_lua_block {
            for _, u in ipairs{"/name/", "/chain/"} do
                local res = ngx.location.capture(u)
                ngx.say(u, " ", res.status)
            end
        }
    }
--- request
GET /t
--- response_body
/name/ 502
/chain/ 502
--- error_log eval
[qr/\[error\] .*upstream SSL certificate does not match "other\.org" while SSL handshaking to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/t HTTP\/1\.1", subrequest: "\/name\/", upstream: "https:\/\/unix:[^"]*https\.sock:\/"/,
qr/\[error\] .*upstream SSL certificate verify error: \((20:unable to get local issuer certificate|21:unable to verify the first certificate)\) while SSL handshaking to upstream/]



=== TEST 19: proxy_ssl_verify without proxy_ssl_trusted_certificate is refused at start
--- config
    location /x/ {
        proxy_pass https://127.0.0.1:1/;
        proxy_ssl_verify on;
    }
--- must_die
--- error_log
no proxy_ssl_trusted_certificate for proxy_ssl_verify



=== TEST 20: ssl_session_cache: bad values are refused as nginx words them
--- http_config
    ssl_session_cache builtin:1000 shared:SSL:10k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*session cache "shared:SSL:10k" is too small in .*nginx\.conf:\d+/



=== TEST 21: ssl_session_cache with a word it does not know
--- http_config
    ssl_session_cache off bogus;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid session cache "bogus" in .*nginx\.conf:\d+/



=== TEST 22: a shared session cache and a ticket key file: the session resumes (the cache here: no tickets)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_protocols TLSv1.2;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_session_cache shared:SSL:1m;
        ssl_session_tickets off;
        location / {
            return 200 "reused=$ssl_session_reused\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_get"
            local res, sess = get("/", "test.com", true)
            ngx.say(res)
            ngx.say((get("/", "test.com", true, sess)))
        }
    }
--- request
GET /t
--- response_body
200 reused=.
200 reused=r



=== TEST 23: ssl_certificate with $ssl_server_name: loaded in each handshake for the name asked; a name without files fails that handshake
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/$ssl_server_name.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/${ssl_server_name}.key;
        location / {
            return 200 "sni=$ssl_server_name\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_get"
            ngx.say((get("/", "test.com", true)))
            ngx.say((get("/", "other.org", true)))
            ngx.say(get("/", "missing.net", false))
        }
    }
--- request
GET /t
--- response_body
200 sni=test.com
200 sni=other.org
nilhandshake failed
--- error_log eval
qr/\[error\] .*cannot load certificate "\S+\/missing\.net\.crt": BIO_new_file\(\) failed/



=== TEST 24: ssl_certificate with any variable: a map of $ssl_server_name, and $server_name of the block SNI picked (evaluated per handshake on a bare request)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    map $ssl_server_name $leaf {
        default     test-rsa;
        other.org   other.org;
        ecdsa.test.com test-ecdsa;
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/$leaf.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/$leaf.key;
        location / {
            return 200 "map sni=$ssl_server_name leaf=$leaf\n";
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/${server_name}.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/${server_name}.key;
        location / {
            return 200 "server_name sni=$ssl_server_name\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_get"
            ngx.say((get("/", "other.org", true)))
            ngx.say((get("/", "ecdsa.test.com", true)))
            ngx.say((get("/", "test.com", true)))
            ngx.say((get("/", "www.test.com", true)))
        }
    }
--- request
GET /t
--- response_body
200 map sni=other.org leaf=other.org
200 map sni=ecdsa.test.com leaf=test-ecdsa
200 server_name sni=test.com
200 map sni=www.test.com leaf=test-rsa
--- no_error_log
[error]



=== TEST 25: ssl_dhparam makes DHE ciphers possible (without it a DHE-only client finds no shared cipher)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_protocols TLSv1.2;
    lua_ssl_ciphers DHE-RSA-AES128-GCM-SHA256;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_dhparam $TEST_NGINX_CERT_DIR/dhparam.pem;
        location / {
            return 200 "$ssl_cipher\n";
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/nodh.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say((require("https_get")("/", "test.com", false)))
            local sock = ngx.socket.tcp()
            assert(sock:connect("unix:$TEST_NGINX_HTML_DIR/nodh.sock"))
            ngx.say(sock:sslhandshake(false, "test.com", false))
        }
    }
--- request
GET /t
--- response_body
200 DHE-RSA-AES128-GCM-SHA256
nilhandshake failed
--- error_log eval
qr/\[info\] .*SSL_do_handshake\(\) failed \(SSL: error:0A0000C1:SSL routines::no shared cipher\) while SSL handshaking/



=== TEST 26: nginx's ssl directives not here yet are refused in those words
--- http_config
    ssl_ocsp on;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"ssl_ocsp" is not supported yet in .*nginx\.conf:\d+/



=== TEST 27: an unknown variable in ssl_certificate is refused at start, as nginx
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/$no_such_thing.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown "no_such_thing" variable/
