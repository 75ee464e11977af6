# ssl_certificate_by_lua_block / _file with ngx.ssl: certificates chosen per handshake
# (by SNI name, after waiting on a cosocket or a sleep), parsed or in DER, the
# handshake failed by ngx.exit(ngx.ERROR) or an error. Certificates of t/cert. Checked
# side by side with Debian's nginx 1.22 + lua-nginx-module 0.10.23 + lua-resty-core.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_CERT_DIR} ||= dirname(abs_path(__FILE__)) . "/cert";

no_long_string();
run_tests();

__DATA__

=== TEST 1: the certificate comes from Lua (DER from PEM files), the server's own cleared first
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/other-name.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/other-name.key;
        ssl_certificate_by_lua_block {
            local ssl = require "ngx.ssl"
            local function read(name)
                local f = assert(io.open("$TEST_NGINX_CERT_DIR/" .. name))
                local s = f:read("*a")
                f:close()
                return s
            end
            assert(ssl.clear_certs())
            assert(ssl.set_der_cert(assert(ssl.cert_pem_to_der(read("test-rsa.crt")))))
            assert(ssl.set_der_priv_key(assert(ssl.priv_key_pem_to_der(read("test-rsa.key")))))
        }
        location / {
            return 200 "sni=$ssl_server_name\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_text")("/", "test.com", true))
        }
    }
--- request
GET /t
--- response_body
200 sni=test.com
--- no_error_log
[error]



=== TEST 2: by SNI name, after a sleep and a cosocket round trip; parsed certificate and key objects
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_trusted_certificate $TEST_NGINX_CERT_DIR/ca.crt;
    init_by_lua_block {
        local function read(name)
            local f = assert(io.open("$TEST_NGINX_CERT_DIR/" .. name))
            local s = f:read("*a")
            f:close()
            return s
        end
        pem = {
            ["test.com"] = { read("test-ecdsa.crt"), read("test-ecdsa.key") },
            ["other.org"] = { read("other-name.crt"), read("other-name.key") },
        }
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_block {
            local ssl = require "ngx.ssl"
            local name = ssl.server_name()
            ngx.sleep(0.01)
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT))
            sock:send("GET /pick HTTP/1.0\r\n\r\n")
            local res = sock:receive("*a")
            sock:close()
            ngx.log(ngx.WARN, "picked for ", name, ": ", res:match("\r\n\r\n(%S+)"))
            local p = pem[name]
            if p then
                assert(ssl.clear_certs())
                assert(ssl.set_cert(assert(ssl.parse_pem_cert(p[1]))))
                assert(ssl.set_priv_key(assert(ssl.parse_pem_priv_key(p[2]))))
            end
        }
        location / {
            return 200 "sni=$ssl_server_name $ssl_protocol\n";
        }
    }
--- config
    location = /pick {
        return 200 "ok";
    }
    location = /t {
        content_by_lua_block {
            local get = require "https_text"
            ngx.say(get("/", "test.com", true))
            ngx.say(get("/", "other.org", true))
            ngx.say(get("/", "nowhere.net", false))
        }
    }
--- request
GET /t
--- response_body
200 sni=test.com TLSv1.2
200 sni=other.org TLSv1.2
200 sni=nowhere.net TLSv1.2
--- error_log
picked for test.com: ok
picked for other.org: ok
--- no_error_log
[error]



=== TEST 3: what ngx.ssl tells of the connection
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_block {
            local ssl = require "ngx.ssl"
            local addr, kind = ssl.raw_client_addr()
            local port, err = ssl.server_port()
            ngx.log(ngx.WARN, "client addr type: ", kind, ", server port: ", tostring(port), " (", err, ")",
                    ", version: ", string.format("0x%x", ssl.get_tls1_version()), " ", ssl.get_tls1_version_str())
        }
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_text")("/", "test.com", false))
        }
    }
--- request
GET /t
--- response_body
200 in
--- error_log eval
qr/client addr type: unix, server port: nil \(unix domain has no port\), version: 0x303 TLSv1.2, context: ssl_certificate_by_lua\*, client: unix:, server: unix:\S+https\.sock/



=== TEST 4: ngx.exit(ngx.ERROR) and a Lua error fail that handshake only
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_block {
            local name = require("ngx.ssl").server_name()
            if name == "exit.test" then
                ngx.exit(ngx.ERROR)
            elseif name == "error.test" then
                error("no certificate for you")
            end
        }
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_text"
            ngx.say(get("/", "exit.test", false))
            ngx.say(get("/", "error.test", false))
            ngx.say(get("/", "fine.test", false))
        }
    }
--- request
GET /t
--- response_body
nilhandshake failed
nilhandshake failed
200 in
--- error_log
no certificate for you
SSL_do_handshake() failed



=== TEST 5: the output API is not for this phase
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_block {
            local ok, err = pcall(ngx.say, "x")
            ngx.log(ngx.WARN, "ngx.say: ", err)
        }
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_text")("/", "test.com", false))
        }
    }
--- request
GET /t
--- response_body
200 in
--- error_log
ngx.say: API disabled in the context of ssl_certificate_by_lua*



=== TEST 6: ssl_certificate_by_lua_file
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_file html/cert.lua;
        location / {
            return 200 "in\n";
        }
    }
--- user_files
>>> cert.lua
ngx.log(ngx.WARN, "cert.lua ran for ", require("ngx.ssl").server_name())
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_text")("/", "file.test", false))
        }
    }
--- request
GET /t
--- response_body
200 in
--- error_log
cert.lua ran for file.test



=== TEST 7: get_client_random (current lua-resty-core's; Debian's has none)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_certificate_by_lua_block {
            local ssl = require "ngx.ssl"
            local r = ssl.get_client_random()
            ngx.log(ngx.WARN, "random: ", #r, " ", ssl.get_client_random(0), " ", #ssl.get_client_random(8),
                    " ", r == ssl.get_client_random())
        }
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_text")("/", "test.com", false))
        }
    }
--- request
GET /t
--- response_body
200 in
--- error_log
random: 32 32 8 true



=== TEST 8: ssl_client_hello_by_lua: the ClientHello's name, versions and extensions; set_protocols narrows the handshake (Debian's 0.10.23 cosockets stop at TLSv1.2 whatever lua_ssl_protocols says)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_hello_by_lua_block {
            local ch = require "ngx.ssl.clienthello"
            local name = ch.get_client_hello_server_name()
            ngx.log(ngx.WARN, "hello from ", name, ", versions ", table.concat(ch.get_supported_versions(), " "),
                    ", sni ext ", #ch.get_client_hello_ext(0), " bytes, no ext 65000: ", tostring(ch.get_client_hello_ext(65000)))
            if name == "old.test" then
                assert(ch.set_protocols({"TLSv1.2"}))
            end
            ngx.log(ngx.WARN, "bad protocol: ", select(2, ch.set_protocols({"TLSv9"})))
        }
        location / {
            return 200 "$ssl_protocol\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_text"
            ngx.say(get("/", "new.test", false))
            ngx.say(get("/", "old.test", false))
        }
    }
--- request
GET /t
--- response_body
200 TLSv1.3
200 TLSv1.2
--- error_log
hello from new.test, versions TLSv1.2 TLSv1.3, sni ext 13 bytes, no ext 65000: nil
bad protocol: invalid protocols failed
--- no_error_log
[error]



=== TEST 9: ssl_client_hello_by_lua ending with ngx.ERROR fails that handshake; the API outside it
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_hello_by_lua_block {
            if require("ngx.ssl.clienthello").get_client_hello_server_name() == "no.test" then
                ngx.exit(ngx.ERROR)
            end
        }
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_text"
            ngx.say(get("/", "no.test", false))
            ngx.say(get("/", "yes.test", false))
            ngx.say(pcall(require("ngx.ssl.clienthello").get_client_hello_server_name))
        }
    }
--- request
GET /t
--- response_body_like chomp
^nilhandshake failed
200 in
false(\S+clienthello\.lua:\d+: )?API disabled in the current context
$



=== TEST 10: ssl_client_hello_by_lua may wait (a sleep, a cosocket), as current OpenResty documents (Debian's 0.10.23 loses the handshake)
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_client_hello_by_lua_block {
            ngx.sleep(0.01)
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_SERVER_PORT))
            sock:send("GET /ok HTTP/1.0\r\n\r\n")
            ngx.log(ngx.WARN, "client hello asked: ", sock:receive("*a"):match("\r\n\r\n(.*)"))
        }
        location / {
            return 200 "in\n";
        }
    }
--- config
    location = /ok {
        return 200 "fine";
    }
    location = /t {
        content_by_lua_block {
            ngx.say(require("https_text")("/", "x.test", false))
        }
    }
--- request
GET /t
--- response_body
200 in
--- error_log
client hello asked: fine



=== TEST 11: ssl_session_store_by_lua keeps sessions in a shared dict, ssl_session_fetch_by_lua (which may wait, as with OpenResty's patched OpenSSL; Debian's cannot) hands them back
--- http_config
    lua_package_path "$TEST_NGINX_CERT_DIR/../lib/?.lua;;";
    lua_ssl_protocols TLSv1.2;
    lua_shared_dict sessions 1m;
    ssl_session_store_by_lua_block {
        local sess = require "ngx.ssl.session"
        local id = sess.get_session_id()
        ngx.shared.sessions:set(id, assert(sess.get_serialized_session()))
        ngx.log(ngx.WARN, "stored session of ", #id, " hex digits, sleep: ", select(2, pcall(ngx.sleep, 0.001)))
    }
    ssl_session_fetch_by_lua_block {
        local sess = require "ngx.ssl.session"
        ngx.sleep(0.001)
        local der = ngx.shared.sessions:get(sess.get_session_id())
        ngx.log(ngx.WARN, "fetched: ", der and "found" or "none")
        if der then
            assert(sess.set_serialized_session(der))
        end
    }
    server {
        listen unix:$TEST_NGINX_HTML_DIR/https.sock ssl;
        ssl_certificate $TEST_NGINX_CERT_DIR/test-rsa.crt;
        ssl_certificate_key $TEST_NGINX_CERT_DIR/test-rsa.key;
        ssl_session_tickets off;
        location / {
            return 200 "reused=$ssl_session_reused\n";
        }
    }
--- config
    location = /t {
        content_by_lua_block {
            local get = require "https_get"
            local res, sess = get("/", "test.com", false)
            ngx.say(res)
            ngx.sleep(0.05)
            ngx.say((get("/", "test.com", false, sess)))
            ngx.say(pcall(require("ngx.ssl.session").get_session_id))
        }
    }
--- request
GET /t
--- response_body
200 reused=.
200 reused=r
truenilbad request
--- error_log
stored session of 64 hex digits, sleep: API disabled in the context of ssl_session_store_by_lua*
fetched: found



=== TEST 12: an encrypted key (no password to give) or garbage is refused by parse_pem_priv_key and priv_key_pem_to_der, never prompted for
--- config
    location = /t {
        content_by_lua_block {
            local ssl = require "ngx.ssl"
            local f = assert(io.open("$TEST_NGINX_CERT_DIR/test-rsa-enc.key"))
            local enc = f:read("*a")
            f:close()
            for _, pem in ipairs({enc, "garbage"}) do
                ngx.say(select(2, ssl.parse_pem_priv_key(pem)), " | ", select(2, ssl.priv_key_pem_to_der(pem)))
            end
            f = assert(io.open("$TEST_NGINX_CERT_DIR/test-rsa.key"))
            local plain = f:read("*a")
            f:close()
            ngx.say(ssl.parse_pem_priv_key(plain) ~= nil, " ", type(ssl.priv_key_pem_to_der(plain)))
        }
    }
--- request
GET /t
--- response_body
PEM_read_bio_PrivateKey() failed | PEM_read_bio_PrivateKey() failed
PEM_read_bio_PrivateKey() failed | PEM_read_bio_PrivateKey() failed
true string
--- no_error_log
[error]
