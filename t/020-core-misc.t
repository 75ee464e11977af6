# Smaller core directives: redirects' Location, chunked_transfer_encoding, and nginx's
# performance knobs that are accepted without effect.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: a relative redirect is made absolute, with the port
--- config
    location = /t {
        return 302 /elsewhere;
    }
--- request
GET /t
--- error_code: 302
--- response_headers_like
Location: http://localhost:\d+/elsewhere

=== TEST 2: absolute_redirect off keeps it relative
--- config
    absolute_redirect off;
    location = /t {
        return 302 /elsewhere;
    }
--- request
GET /t
--- error_code: 302
--- response_headers
Location: /elsewhere

=== TEST 3: port_in_redirect off drops the port
--- config
    port_in_redirect off;
    location = /t {
        return 301 /elsewhere;
    }
--- request
GET /t
--- error_code: 301
--- response_headers
Location: http://localhost/elsewhere

=== TEST 4: server_name_in_redirect on names the server, not the Host
--- config
    server_name_in_redirect on;
    port_in_redirect off;
    location = /t {
        return 302 /elsewhere;
    }
--- request
GET /t
--- more_headers
Host: other.example
--- error_code: 302
--- response_headers
Location: http://localhost/elsewhere

=== TEST 5: chunked_transfer_encoding off: a body of unknown length ends with the connection
--- config
    chunked_transfer_encoding off;
    location = /t {
        content_by_lua_block { ngx.say("streamed") ngx.flush(true) ngx.say("more") }
    }
--- request
GET /t
--- response_headers
!Transfer-Encoding
Connection: close
--- response_body
streamed
more

=== TEST 6: performance knobs are accepted
--- http_config
    open_file_cache max=1000 inactive=20s;
    open_file_cache_valid 30s;
    open_file_cache_min_uses 2;
    open_file_cache_errors on;
    postpone_output 1460;
    output_buffers 2 32k;
    send_lowat 0;
    read_ahead 0;
    directio off;
    directio_alignment 512;
    aio off;
    aio_write off;
    client_body_in_single_buffer on;
    map_hash_bucket_size 64;
    map_hash_max_size 2048;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok

=== TEST 7: limit_rate slows a response down
--- config
    location = /t {
        limit_rate 100k;
        content_by_lua_block { ngx.print(string.rep("a", 150000)) }
        log_by_lua_block {
            ngx.update_time()
            local took = ngx.now() - ngx.req.start_time()
            ngx.log(ngx.WARN, took >= 0.9 and "limited" or "fast", " ", ngx.var.limit_rate)
        }
    }
--- request
GET /t
--- response_body_like: ^(?:a{50000}){3}$
--- error_log
limited 102400

=== TEST 8: limit_rate_after lets that much go at full speed
--- config
    location = /t {
        limit_rate 100k;
        limit_rate_after 1m;
        content_by_lua_block { ngx.print(string.rep("a", 150000)) }
        log_by_lua_block {
            ngx.update_time()
            local took = ngx.now() - ngx.req.start_time()
            ngx.log(ngx.WARN, took >= 0.9 and "limited" or "fast")
        }
    }
--- request
GET /t
--- response_body_like: ^(?:a{50000}){3}$
--- error_log
fast

=== TEST 9: $limit_rate set from Lua limits this response
--- config
    location = /t {
        content_by_lua_block {
            ngx.var.limit_rate = "100k"
            ngx.var.limit_rate = "nonsense"
            ngx.print(string.rep("a", 150000))
        }
        log_by_lua_block {
            ngx.update_time()
            local took = ngx.now() - ngx.req.start_time()
            ngx.log(ngx.WARN, took >= 0.9 and "limited" or "fast", " ", ngx.var.limit_rate)
        }
    }
--- request
GET /t
--- response_body_like: ^(?:a{50000}){3}$
--- error_log
limited 102400
invalid size "nonsense"

=== TEST 10: keepalive_disable msie6 (the default): an old MSIE's POST closes the connection
--- config
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\nContent-Length: 0\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_headers
Connection: close
--- response_body
ok

=== TEST 11: keepalive_disable none keeps it
--- config
    keepalive_disable none;
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\nContent-Length: 0\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_headers
Connection: keep-alive
--- response_body
ok

=== TEST 12: keepalive_disable safari
--- config
    keepalive_disable safari;
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15\r\n\r\n"
--- response_headers
Connection: close

=== TEST 13: auth_delay holds a 401 back
--- config
    location = /t {
        auth_delay 300ms;
        auth_basic "x";
        auth_basic_user_file ../html/htpasswd;
        log_by_lua_block {
            ngx.update_time()
            ngx.log(ngx.WARN, "delayed: ", ngx.now() - ngx.req.start_time() >= 0.29)
        }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- request
GET /t
--- error_code: 401
--- error_log
delayed: true

=== TEST 14: disable_symlinks other than off is not done yet, and says so
--- config
    disable_symlinks on;
--- must_die
--- error_log
"disable_symlinks on" is not supported yet

=== TEST 15: empty_gif serves a transparent 1x1 GIF
--- config
    location = /pixel.gif {
        empty_gif;
    }
--- request
GET /pixel.gif
--- response_headers
Content-Type: image/gif
Content-Length: 43
Last-Modified: Mon, 28 Sep 1970 06:00:00 GMT
--- response_body_like: ^GIF89a

=== TEST 16: empty_gif: a conditional request gets a 304; other methods a 405
--- config
    location = /pixel.gif {
        empty_gif;
    }
--- pipelined_requests eval
["POST /pixel.gif", "GET /pixel.gif"]
--- more_headers
If-Modified-Since: Mon, 28 Sep 1970 06:00:00 GMT
--- error_code eval
[405, 304]

=== TEST 17: empty_gif answers other methods with 405
--- config
    location = /pixel.gif {
        empty_gif;
    }
--- request
POST /pixel.gif
--- error_code: 405

=== TEST 18: limit_rate slows a static file down, sendfile on too
--- http_config
    init_by_lua_block {
        local f = assert(io.open(ngx.config.prefix() .. "html/big.bin", "w"))
        f:write(string.rep("b", 150000))
        f:close()
    }
--- config
    sendfile on;
    location = /big.bin {
        limit_rate 100k;
        log_by_lua_block {
            ngx.update_time()
            local took = ngx.now() - ngx.req.start_time()
            ngx.log(ngx.WARN, took >= 0.9 and "limited" or "fast", " ", ngx.var.limit_rate)
        }
    }
--- request
GET /big.bin
--- response_body_like: ^(?:b{50000}){3}$
--- error_log
limited 102400

=== TEST 19: limit_rate is inherited, and $limit_rate reads it before any output
--- config
    limit_rate 100k;
    location = /t {
        content_by_lua_block {
            ngx.say("rate ", ngx.var.limit_rate)
        }
    }
--- request
GET /t
--- response_body
rate 102400
