# Debian's lua-nginx-websocket (resty.websocket, as `nginx.websocket.*`), unmodified: its
# server on ngx.req.socket(true), its client on a cosocket, from a request and a timer.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: text, binary, ping/pong and close between the client and the server
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /ws {
        content_by_lua_block {
            local server = require "nginx.websocket.server"
            local wb, err = server:new{ timeout = 5000, max_payload_len = 65535 }
            if not wb then
                ngx.log(ngx.ERR, "failed to make a websocket: ", err)
                return ngx.exit(444)
            end
            while true do
                local data, typ, err = wb:recv_frame()
                if not data then
                    ngx.log(ngx.ERR, "recv: ", err)
                    return
                end
                if typ == "close" then
                    wb:send_close(1000, "bye")
                    return
                elseif typ == "ping" then
                    wb:send_pong(data)
                elseif typ == "text" then
                    wb:send_text("echo: " .. data)
                elseif typ == "binary" then
                    wb:send_binary(string.reverse(data))
                end
            end
        }
    }
    location = /t {
        content_by_lua_block {
            local client = require "nginx.websocket.client"
            local wb = client:new()
            local ok, err = wb:connect("ws://127.0.0.1:" .. ngx.var.server_port .. "/ws")
            ngx.say("connect: ", ok, " ", err)
            wb:send_text("hello")
            ngx.say(wb:recv_frame())
            wb:send_binary("\1\2\3")
            local data, typ = wb:recv_frame()
            ngx.say(typ, " ", #data, " ", data:byte(1))
            wb:send_ping("p1")
            ngx.say(wb:recv_frame())
            local big = string.rep("a", 60000)
            wb:send_text(big)
            local data = wb:recv_frame()
            ngx.say(#data)
            wb:send_close(1000, "done")
            ngx.say(wb:recv_frame())
        }
    }
--- request
GET /t
--- response_body
connect: 1 nil
echo: hellotextnil
binary 3 3
p1pongnil
60006
byeclose1000
--- no_error_log
[error]

=== TEST 2: a websocket client in a timer
--- http_config
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
--- config
    location = /ws {
        content_by_lua_block {
            local wb = assert(require("nginx.websocket.server"):new{ timeout = 5000 })
            local data = wb:recv_frame()
            wb:send_text("timer said " .. data)
            wb:recv_frame()
        }
    }
    location = /t {
        content_by_lua_block {
            local port = ngx.var.server_port
            ngx.timer.at(0, function()
                local wb = require("nginx.websocket.client"):new()
                assert(wb:connect("ws://127.0.0.1:" .. port .. "/ws"))
                wb:send_text("tick")
                ngx.log(ngx.WARN, "websocket from a timer: ", (wb:recv_frame()))
                wb:send_close()
            end)
            ngx.sleep(0.2)
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
ok
--- error_log
websocket from a timer: timer said tick
