# Client certificates offered by cosockets (lua_ssl_certificate/_key, current
# lua-nginx-module's; Debian's 0.10.23 has no such directive) and checked by the server
# (ssl_verify_client, $ssl_client_*). Certificates of t/cert (t/cert/make.sh).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_CERT_DIR} ||= dirname(abs_path(__FILE__)) . "/cert";

no_long_string();
run_tests();

__DATA__

=== TEST 1: client certificates: required, given by lua_ssl_certificate, shown in $ssl_client_*
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_certificate $TEST_NGINX_CERT_DIR/client.crt;
    lua_ssl_certificate_key $TEST_NGINX_CERT_DIR/client.key;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        ssl_verify_client on;
        location / {
            return 200 "verify=$ssl_client_verify s_dn=$ssl_client_s_dn i_dn=$ssl_client_i_dn\n";
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
200 verify=SUCCESS s_dn=CN=test client,O=oxiresty tests,C=US i_dn=CN=ca root,O=oxiresty tests,C=US



=== TEST 2: a client certificate from another CA: 400 "The SSL certificate error"; optional_no_ca lets it in
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_certificate $TEST_NGINX_CERT_DIR/wrong-client.crt;
    lua_ssl_certificate_key $TEST_NGINX_CERT_DIR/wrong-client.key;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name test.com;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        ssl_verify_client optional;
        location / {
            return 200 "in\n";
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        server_name other.org;
        ssl_certificate $TEST_NGINX_CERT_DIR/other-name.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/other-name.key;
        ssl_verify_client optional_no_ca;
        location / {
            return 200 "in: $ssl_client_verify\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local res = require("https_get")("/", "test.com", true)
            ngx.say(res:match("^%d+"), " ", res:match("<title>(.-)</title>"))
            ngx.say((require("https_get")("/", "other.org", true)))
        }
    }
--- request
GET /t
--- response_body_like chomp
^400 400 The SSL certificate error
200 in: FAILED:(unable to get local issuer certificate|unable to verify the first certificate)
$
--- error_log eval
qr/client SSL certificate verify error: \((20:unable to get local issuer certificate|21:unable to verify the first certificate)\)/






=== TEST 3: tcpsock:setclientcert with a chain and key from ngx.ssl; one without the other is refused
--- http_config
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        ssl_verify_client on;
        location / {
            return 200 "verify=$ssl_client_verify s_dn=$ssl_client_s_dn\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            local function read(name)
                local f = assert(io.open("$TEST_NGINX_CERT_DIR/" .. name))
                local s = f:read("*a")
                f:close()
                return s
            end
            local cert = assert(ssl.parse_pem_cert(read("client.crt")))
            local key = assert(ssl.parse_pem_priv_key(read("client.key")))
            local sock = ngx.socket.tcp()
            ngx.say(sock:setclientcert(cert, nil))
            ngx.say(sock:setclientcert(cert, key))
            assert(sock:connect("unix:$TEST_NGINX_HTML_DIR/https.sock"))
            assert(sock:sslhandshake(false, "test.com", true))
            sock:send("GET / HTTP/1.0\r\nHost: test.com\r\n\r\n")
            ngx.print(sock:receive("*a"):match("\r\n\r\n(.*)"))
        }
    }
--- request
GET /t
--- response_body
nilclient certificate must be supplied with corresponding private key
true
verify=SUCCESS s_dn=CN=test client,O=oxiresty tests,C=US



=== TEST 4: ngx.ssl.verify_client in ssl_certificate_by_lua asks for a client certificate (optional: none is NONE)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_block {
            local ssl = require "ngx.ssl"
            local f = assert(io.open("$TEST_NGINX_CERT_DIR/ca.crt"))
            local ca = assert(ssl.parse_pem_cert(f:read("*a")))
            f:close()
            assert(ssl.verify_client(ca, 2))
        }
        location / {
            return 200 "verify=$ssl_client_verify s_dn=$ssl_client_s_dn\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            local function read(name)
                local f = assert(io.open("$TEST_NGINX_CERT_DIR/" .. name))
                local s = f:read("*a")
                f:close()
                return s
            end
            ngx.say((require("https_get")("/", "test.com", true)))
            local sock = ngx.socket.tcp()
            sock:setclientcert(assert(ssl.parse_pem_cert(read("client.crt"))),
                               assert(ssl.parse_pem_priv_key(read("client.key"))))
            assert(sock:connect("unix:$TEST_NGINX_HTML_DIR/https.sock"))
            assert(sock:sslhandshake(false, "test.com", true))
            sock:send("GET / HTTP/1.0\r\nHost: test.com\r\n\r\n")
            ngx.print(sock:receive("*a"):match("\r\n\r\n(.*)"))
        }
    }
--- request
GET /t
--- response_body
200 verify=NONE s_dn=
verify=SUCCESS s_dn=CN=test client,O=oxiresty tests,C=US



=== TEST 5: ssl_crl: a revoked client certificate gets 400 "The SSL certificate error" (23: certificate revoked); one not on the list gets in
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        ssl_crl $TEST_NGINX_CERT_DIR/ca.crl;
        ssl_verify_client on;
        location / {
            return 200 "verify=$ssl_client_verify\n";
        }
    }
--- config
    location = /good {
        lua_ssl_certificate $TEST_NGINX_CERT_DIR/client.crt;
        lua_ssl_certificate_key $TEST_NGINX_CERT_DIR/client.key;
        content_by_lua_block {
            ngx.say((require("https_get")("/", "test.com", true)))
        }
    }
    location = /revoked {
        lua_ssl_certificate $TEST_NGINX_CERT_DIR/revoked-client.crt;
        lua_ssl_certificate_key $TEST_NGINX_CERT_DIR/revoked-client.key;
        content_by_lua_block {
            local res = require("https_get")("/", "test.com", true)
            ngx.say(res:match("^%d+"), " ", res:match("<title>(.-)</title>"))
        }
    }
    location = /t {
        content_by_lua_block {
            ngx.print(ngx.location.capture("/good").body)
            ngx.print(ngx.location.capture("/revoked").body)
        }
    }
--- request
GET /t
--- response_body
200 verify=SUCCESS
400 400 The SSL certificate error
--- error_log eval
qr/\[info\] .*client SSL certificate verify error: \(23:certificate revoked\) while reading client request headers/



=== TEST 6: ssl_crl naming a file that does not exist is refused at start
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_crl /no/such.crl;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*X509_LOOKUP_load_file\("\/no\/such\.crl"\) failed \(SSL: error:80000002:system library::No such file or directory/



=== TEST 7: lua_ssl_crl and proxy_ssl_crl: a revoked server certificate fails verification (23: certificate revoked)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    lua_ssl_crl $TEST_NGINX_CERT_DIR/ca.crl;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/revoked-server.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/revoked-server.key;
        return 200 "in\n";
    }
--- config
    location /proxied/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_name test.com;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        proxy_ssl_crl $TEST_NGINX_CERT_DIR/ca.crl;
    }
    location /unchecked/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_name test.com;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    }
    location = /t {
        content_by_lua_block {
            ngx.say("cosocket: ", select(2, require("https_get")("/", "test.com", true)))
            ngx.say("proxy with the list: ", ngx.location.capture("/proxied/").status)
            ngx.say("proxy without: ", ngx.location.capture("/unchecked/").status)
        }
    }
--- request
GET /t
--- response_body
cosocket: 23: certificate revoked
proxy with the list: 502
proxy without: 200
--- error_log eval
[qr/\[error\] .*lua ssl certificate verify error: \(23: certificate revoked\)/,
qr/\[error\] .*upstream SSL certificate verify error: \(23:certificate revoked\) while SSL handshaking to upstream/]



=== TEST 8: ssl_conf_command sets OpenSSL's own options (here the TLSv1.3 suites: the client gets ChaCha20); proxy_ssl_conf_command on the upstream side
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;
        return 200 "$ssl_protocol $ssl_cipher\n";
    }
--- config
    location /chacha/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
    }
    location /aes/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
    }
    location = /t {
        content_by_lua_block {
            ngx.print(ngx.location.capture("/chacha/").body)
            local res = ngx.location.capture("/aes/")
            ngx.say(res.status)
        }
    }
--- request
GET /t
--- response_body
TLSv1.3 TLS_CHACHA20_POLY1305_SHA256
502
--- error_log eval
qr/SSL_do_handshake\(\) failed .*no shared cipher|handshake failure/



=== TEST 9: an unknown ssl_conf_command is refused at start in OpenSSL's words
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_conf_command Bogus x;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*SSL_CONF_cmd\("Bogus", "x"\) failed \(SSL: error:0A000182:SSL routines::unknown cmd name:cmd=Bogus\)/



=== TEST 10: lua_ssl_crl naming a file that does not exist is refused at start
--- http_config
    lua_ssl_crl /no/such.crl;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*X509_LOOKUP_load_file\("\/no\/such\.crl"\) failed/



=== TEST 11: proxy_ssl_certificate with an encrypted key opened by proxy_ssl_password_file (the second password fits); without the file the key is refused at start
--- http_config
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_certificate $TEST_NGINX_CERT_DIR/ca.crt;
        ssl_verify_client on;
        return 200 "verify=$ssl_client_verify s_dn=$ssl_client_s_dn\n";
    }
--- config
    location /p/ {
        proxy_pass https://unix:$TEST_NGINX_HTML_DIR/https.sock:/;
        proxy_ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        proxy_ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa-enc.key;
        proxy_ssl_password_file $TEST_NGINX_CERT_DIR/passwords;
    }
--- request
GET /p/
--- response_body
verify=SUCCESS s_dn=CN=test.com,O=oxiresty tests,C=US



=== TEST 12: an encrypted proxy_ssl_certificate_key without proxy_ssl_password_file is refused at start (never a prompt)
--- config
    location /p/ {
        proxy_pass https://127.0.0.1:1/;
        proxy_ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        proxy_ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa-enc.key;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*cannot load certificate key "[^"]*test-rsa-enc\.key": PEM_read_bio_PrivateKey\(\) failed \(SSL: /
