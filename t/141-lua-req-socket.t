# ngx.req.socket: the request body as a stream, and the raw client connection.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: the body streamed: receiveuntil, sized reads, the end of the body
--- config
    location = /t {
        content_by_lua_block {
            local sock, err = ngx.req.socket()
            ngx.say("sock: ", sock ~= nil, " ", err)
            local reader = sock:receiveuntil("--b")
            ngx.say("[", reader(), "]")
            ngx.say("[", sock:receive(4), "]")
            ngx.say(sock:receive("*a"))
            ngx.say(sock:receive(1))
            ngx.say(ngx.req.socket())
            ngx.say(sock.send)
        }
    }
--- request
POST /t
hello world--bthe rest of it
--- response_body
sock: true nil
[hello world]
[the ]
rest of it
nilclosed
nilrequest body already exists
nil
--- no_error_log
[error]

=== TEST 2: no body, and a body already read
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.req.socket())
        }
    }
    location = /read {
        content_by_lua_block {
            ngx.req.read_body()
            ngx.say(ngx.req.socket())
        }
    }
--- pipelined_requests eval
["GET /t", "POST /read\nabc"]
--- response_body eval
["nilno body\n", "nilrequest body already exists\n"]
--- no_error_log
[error]

=== TEST 3: a large body read in chunks as it arrives
--- config
    location = /t {
        content_by_lua_block {
            local sock = assert(ngx.req.socket())
            local total, chunks = 0, 0
            while true do
                local data, err, partial = sock:receive(1000)
                if not data then
                    total = total + #partial
                    ngx.say("end: ", err)
                    break
                end
                total = total + #data
                chunks = chunks + 1
            end
            ngx.say(total, " bytes, ", chunks, " full chunks")
        }
    }
--- request eval
"POST /t\n" . ("x" x 100500)
--- response_body
end: closed
100500 bytes, 100 full chunks
--- no_error_log
[error]

=== TEST 4: the raw socket: the handler speaks on the connection itself
--- config
    location = /t {
        content_by_lua_block {
            ngx.status = 101
            ngx.header["Upgrade"] = "echo"
            ngx.send_headers()
            ngx.flush(true)
            local sock = assert(ngx.req.socket(true))
            sock:send("raw hello\n")
        }
    }
--- request
GET /t
--- error_code: 101
--- raw_response_headers_like
^HTTP/1.1 101 Switching Protocols\r
(?:.*\r\n)*Connection: upgrade\r
Upgrade: echo\r
--- response_body
raw hello
--- no_error_log
[error]
