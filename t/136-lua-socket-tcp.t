# ngx.socket.tcp: the TCP cosocket, as lua-nginx-module answers.

use Test::Nginx::Socket 'no_plan';

run_tests();

__DATA__

=== TEST 1: an HTTP request to this server: lines, then a counted body
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local ok, err = sock:connect("127.0.0.1", ngx.var.server_port)
            ngx.say("connect: ", ok, " ", err)
            local bytes = sock:send({"GET /hello HTTP/1.1\r\n", "Host: localhost\r\n", "Connection: close\r\n\r\n"})
            ngx.say("sent: ", bytes)
            local line = sock:receive()
            ngx.say("status: ", line)
            local len
            while true do
                local h = sock:receive("*l")
                if h == "" then break end
                len = len or h:match("^Content%-Length: (%d+)")
            end
            ngx.say("body: [", sock:receive(tonumber(len)), "]")
            ngx.say(sock:receive())
            ngx.say(sock:close())
        }
    }
    location = /hello {
        return 200 "hi there";
    }
--- request
GET /t
--- response_body
connect: 1 nil
sent: 59
status: HTTP/1.1 200 OK
body: [hi there]
nilclosed
1
--- no_error_log
[error]

=== TEST 2: *a, *l (CRs dropped), a count, and what is left when the peer closes
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:send("ping")
            ngx.say("[", sock:receive(), "]")
            ngx.say("[", sock:receive("*l"), "]")
            ngx.say("[", sock:receive(3), "]")
            ngx.say(sock:receive(100))
            ngx.say(sock:receive("*a"))
            ngx.say(sock:close())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query: ping
--- tcp_reply eval
"first\r\nsec\rond\nabcdefg"
--- request
GET /t
--- response_body
[first]
[second]
[abc]
nilcloseddefg
nilclosed
1
--- error_log eval
qr/\[error\] .*attempt to receive data on a closed socket: u:[0-9A-F]+, c:[0-9A-F]+, ft:\d+ eof:1/

=== TEST 3: *a reads to the peer's close; an empty read is ""
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:send("x")
            local data, err = sock:receive("*a")
            ngx.say("[", data, "] ", err)
            ngx.say("[", sock:receive("*a"), "]")
            ngx.say(sock:receive(1))
            ngx.say(sock:receive(0))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
["hello ", "world\n", "bye"]
--- request
GET /t
--- response_body
[hello world
bye] nil
[]
nilclosed
nilclosed
--- error_log
attempt to receive data on a closed socket

=== TEST 4: connection refused
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            ngx.say(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_2))
            ngx.say(sock:send("x"))
            ngx.say(sock:receive())
        }
    }
--- request
GET /t
--- response_body
nilconnection refused
nilclosed
nilclosed
--- error_log eval
[
qr/\[error\] .*connect\(\) failed \(111: Connection refused\)/,
qr/\[error\] .*attempt to send data on a closed socket: u:[0-9A-F]+, c:0+, ft:0 eof:0/,
]

=== TEST 5: a read timeout returns what came, keeps the connection, and is logged
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeout(100)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:send("q")
            ngx.say(sock:receive(10))
            ngx.say(sock:receive(1))
            ngx.say(sock:close())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: abc
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeoutabc
niltimeout
1
--- error_log
lua tcp socket read timed out

=== TEST 6: lua_socket_log_errors off keeps the log quiet
--- config
    lua_socket_log_errors off;
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            sock:settimeouts(1000, 1000, 50)
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:send("q")
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: partial line
--- tcp_no_close
--- request
GET /t
--- response_body
niltimeoutpartial line
--- no_error_log
[error]

=== TEST 7: receiveuntil, whole and in sized chunks, inclusive
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:send("q")
            local reader = sock:receiveuntil("\r\n--abcedhb")
            ngx.say("[", reader(), "]")
            local chunks = sock:receiveuntil("--end")
            while true do
                local data, err = chunks(4)
                if not data then
                    ngx.say("done: ", err)
                    break
                end
                ngx.say("chunk: [", data, "]")
            end
            local incl = sock:receiveuntil("!", { inclusive = true })
            ngx.say("[", incl(), "]")
            ngx.say(incl())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"hello, world! -agentzh\r\n--abcedhb blah blah--end yes!tail"
--- request
GET /t
--- response_body
[hello, world! -agentzh]
chunk: [ bla]
chunk: [h bl]
chunk: [ah]
done: nil
[ yes!]
nilclosedtail
--- no_error_log
[error]

=== TEST 8: receiveany returns what is there, up to its limit
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            sock:send("q")
            ngx.say("[", sock:receiveany(3), "]")
            ngx.say("[", sock:receiveany(100), "]")
            ngx.say(pcall(sock.receiveany, sock, 0))
            ngx.say(sock:receiveany(100))
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply: abcdef
--- request
GET /t
--- response_body_like chomp
^\[abc\]
\[def\]
falsebad argument #2 to '\?' \(bad max argument\)
nilclosed
$
--- no_error_log
[error]

=== TEST 9: setkeepalive pools the connection; the next connect reuses it
--- config
    location = /t {
        content_by_lua_block {
            for i = 1, 3 do
                local sock = ngx.socket.tcp()
                assert(sock:connect("127.0.0.1", ngx.var.server_port))
                local reused = sock:getreusedtimes()
                sock:send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
                local reader = sock:receiveuntil("\r\n\r\n")
                local head = reader()
                local body = sock:receive(8)
                ngx.say(i, ": reused ", reused, " ", body)
                ngx.say(sock:setkeepalive())
                ngx.say(sock:send("x"))
            end
        }
    }
    location = /hello {
        return 200 "hi there";
    }
--- request
GET /t
--- response_body
1: reused 0 hi there
1
nilclosed
2: reused 1 hi there
1
nilclosed
3: reused 2 hi there
1
nilclosed
--- error_log
attempt to send data on a closed socket

=== TEST 10: a connection with unread data is not pooled; pool names and sizes
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", ngx.var.server_port, { pool = "mine", pool_size = 2 }))
            sock:send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sock:receive()
            ngx.say(sock:setkeepalive(1000))
            ngx.say(pcall(sock.connect, sock, "127.0.0.1", 80, { pool = {} }))
            ngx.say(pcall(sock.connect, sock, "127.0.0.1", 80, { pool_size = 0 }))
        }
    }
    location = /hello {
        return 200 "hi there";
    }
--- request
GET /t
--- response_body_like chomp
^nilunread data in buffer
falsebad argument #4 to '\?' \(bad "pool" option type: table\)
falsebad argument #4 to '\?' \(bad "pool_size" option value: 0\)
$
--- no_error_log
[error]

=== TEST 11: send takes nested tables, numbers, booleans; refuses what it cannot write
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", $TEST_NGINX_RAND_PORT_1))
            ngx.say(sock:send({ "a", { "b", 1, { "true" } }, 2.5 }))
            ngx.say(pcall(sock.send, sock, { "a", {}, true }))
            ngx.say(pcall(sock.send, sock, function() end))
            ngx.say(pcall(function() sock:send({ "a", {}, function() end }) end))
            ngx.say(sock:receive())
        }
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query: ab1true2.5
--- tcp_reply: ok
--- request
GET /t
--- response_body_like chomp
^10
falsebad argument #2 to '\?' \(bad data type boolean found\)
falsebad argument #2 to '\?' \(string, number, boolean, nil, or array table expected, got function\)
falsecontent_by_lua\(nginx.conf:\d+\):7: bad argument #1 to 'send' \(bad data type function found\)
nilclosedok
$
--- no_error_log
[error]

=== TEST 12: ngx.socket.connect, unix sockets, names without a resolver, sslhandshake unconnected and to a server that speaks no TLS
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.socket.connect("unix:$TEST_NGINX_SERVER_ROOT/html/tcp.sock")
            ngx.say("unix: ", sock ~= nil, " ", err)
            sock:send("hi")
            ngx.say(sock:receive())
            ngx.say(ngx.socket.connect("no.such.host.invalid", 80))
            local s2 = ngx.socket.tcp()
            ngx.say(pcall(s2.sslhandshake, s2))
            ngx.say(s2:close())
            ngx.say(sock:sslhandshake())
            local s3 = ngx.socket.connect("localhost", ngx.var.server_port)
            ngx.say("localhost: ", s3 ~= nil)
        }
    }
--- tcp_listen: $TEST_NGINX_SERVER_ROOT/html/tcp.sock
--- tcp_reply: unix says hi
--- request
GET /t
--- response_body
unix: true nil
nilclosedunix says hi
nilno resolver defined to resolve "no.such.host.invalid"
falsesocket is never created nor connected
nilclosed
nilhandshake failed
localhost: true

=== TEST 13: one light thread reads while another writes; a timer talks too
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            assert(sock:connect("127.0.0.1", ngx.var.server_port))
            local reader = ngx.thread.spawn(function()
                local line = sock:receive()
                return line
            end)
            local writer = ngx.thread.spawn(function()
                ngx.sleep(0.01)
                return sock:send("GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            end)
            ngx.say(ngx.thread.wait(writer))
            ngx.say(ngx.thread.wait(reader))
            ngx.say(sock:receive())
            local port = ngx.var.server_port
            ngx.timer.at(0, function()
                local s = ngx.socket.tcp()
                assert(s:connect("127.0.0.1", port))
                s:send("GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                ngx.log(ngx.WARN, "timer read: ", s:receive())
            end)
            ngx.sleep(0.05)
        }
    }
    location = /hello {
        return 200 "hi there";
    }
--- request
GET /t
--- response_body_like chomp
^true\d+
trueHTTP/1.1 200 OK
Server: .*
$
--- error_log
timer read: HTTP/1.1 200 OK

=== TEST 14: no cosockets where OpenResty has none
--- config
    location = /t {
        content_by_lua_block { ngx.say("ok") }
        header_filter_by_lua_block {
            local ok, err = pcall(ngx.socket.tcp)
            ngx.header["X-Err"] = err
        }
    }
--- request
GET /t
--- response_headers
X-Err: API disabled in the context of header_filter_by_lua*
--- response_body
ok

=== TEST 15: a method called on an object that is not a cosocket raises an error, never reads foreign memory
--- config
    location = /t {
        content_by_lua_block {
            local sock = ngx.socket.tcp()
            local udp = ngx.socket.udp()
            for _, fake in ipairs({ { newproxy(true) }, { io.stdout }, udp }) do
                local ok, err = pcall(sock.send, fake, "x")
                ngx.say(ok, " ", err)
            end
            local ok, err = pcall(sock.getreusedtimes, { sock[1] })
            ngx.say(ok, " ", err)
        }
    }
--- request
GET /t
--- response_body
false bad cosocket object
false bad cosocket object
false bad cosocket object
true nil
