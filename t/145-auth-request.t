# nginx's auth_request module: access decided by a subrequest.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: 2xx lets through, 401 (with WWW-Authenticate) and 403 answer, others are 500
--- config
    location = /auth {
        internal;
        content_by_lua_block {
            local who = ngx.var.http_x_who
            if who == "alice" then
                ngx.header["X-User"] = "alice"
                return ngx.exit(204)
            elseif who == "bob" then
                return ngx.exit(403)
            elseif who == "carol" then
                return ngx.redirect("/elsewhere")
            end
            ngx.header["WWW-Authenticate"] = 'Basic realm="test"'
            return ngx.exit(401)
        }
    }
    location = /t {
        auth_request /auth;
        auth_request_set $user $sent_http_x_user;
        content_by_lua_block { ngx.say("hello ", ngx.var.user) }
    }
--- pipelined_requests eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Who: alice", "X-Who: bob", "X-Who: nobody", "X-Who: carol"]
--- error_code eval
[200, 403, 401, 500]
--- response_headers_like eval
["", "", 'WWW-Authenticate: Basic realm="test"', ""]
--- response_body_like eval
["^hello alice\n\$", "403 Forbidden", "401 Authorization Required", "500 Internal Server Error"]
--- error_log
auth request unexpected status: 302

=== TEST 2: off in a nested location; the subrequest sees the request's headers
--- config
    location = /auth {
        content_by_lua_block {
            if ngx.var.http_authorization == "Bearer ok" then return ngx.exit(200) end
            return ngx.exit(403)
        }
    }
    location /area {
        auth_request /auth;
        location = /area/open {
            auth_request off;
            content_by_lua_block { ngx.say("open") }
        }
        location = /area/closed {
            content_by_lua_block { ngx.say("closed") }
        }
    }
--- pipelined_requests eval
["GET /area/open", "GET /area/closed", "GET /area/closed"]
--- more_headers eval
["", "", "Authorization: Bearer ok"]
--- error_code eval
[200, 403, 200]
--- response_body_like eval
["open", "403 Forbidden", "closed"]
--- no_error_log
[error]
