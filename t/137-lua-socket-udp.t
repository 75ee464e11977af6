# ngx.socket.udp: the UDP cosocket, as lua-nginx-module answers.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: a datagram out, a datagram back
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            ngx.say(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(udp:send({ "hello", " ", 42 }))
            ngx.say(udp:receive())
            ngx.say(udp:close())
            ngx.say(udp:close())
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_query: hello 42
--- udp_reply: hi there
--- request
GET /t
--- response_body
1
1
hi there
1
nilclosed
--- no_error_log
[error]

=== TEST 2: a read timeout; sizes; a closed socket
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            ngx.say(udp:send("x"))
            udp:settimeout(50)
            assert(udp:setpeername("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(udp:receive())
            udp:send("q")
            udp:settimeout(1000)
            ngx.say(udp:receive(4))
            ngx.say(pcall(udp.receive, udp, "x"))
        }
    }
--- udp_listen: $TEST_NGINX_RAND_PORT_1
--- udp_reply_delay: 100ms
--- udp_reply: abcdefgh
--- request
GET /t
--- response_body_like chomp
^nilclosed
niltimeout
abcd
falsebad argument #2 to '\?' \(number expected, got string\)
$
--- error_log
lua udp socket read timed out
attempt to send data on a closed socket

=== TEST 3: no resolver; /etc/hosts is read first (lua-nginx-module 0.10.23 does not)
--- config
    location = /t {
        content_by_lua_block {
            local udp = ngx.socket.udp()
            ngx.say(udp:setpeername("no.such.host.invalid", 53))
            ngx.say(udp:setpeername("localhost", 53))
        }
    }
--- request
GET /t
--- response_body
nilno resolver defined to resolve "no.such.host.invalid"
1
--- no_error_log
[error]
