# ngx.on_abort and lua_check_client_abort: a client that goes away mid-request.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: the handler runs when the client closes while the request waits
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            local ok, err = ngx.on_abort(function()
                ngx.log(ngx.NOTICE, "on abort called")
                ngx.exit(499)
            end)
            ngx.log(ngx.NOTICE, "on_abort: ", ok, " ", err)
            ngx.sleep(0.7)
            ngx.log(ngx.ERR, "main handler done")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.3
--- ignore_response
--- error_log
client prematurely closed connection
on abort called
on_abort: 1 nil
--- no_error_log
main handler done

=== TEST 2: without a handler the request ends
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.sleep(0.7)
            ngx.log(ngx.ERR, "main handler done")
        }
    }
--- request
GET /t
--- timeout: 0.2
--- abort
--- wait: 0.7
--- ignore_response
--- error_log
client prematurely closed connection
--- no_error_log
main handler done

=== TEST 3: off by default; one handler per request; in content only as OpenResty
--- config
    location = /off {
        content_by_lua_block {
            ngx.say(ngx.on_abort(function() end))
        }
    }
    location = /on {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.say(ngx.on_abort(function() end))
            ngx.say(ngx.on_abort(function() end))
        }
    }
--- pipelined_requests eval
["GET /off", "GET /on"]
--- response_body eval
["nillua_check_client_abort is off\n", "1\nnilduplicate call\n"]
--- no_error_log
[error]

=== TEST 4: a client that stays gets its answer
--- config
    location = /t {
        lua_check_client_abort on;
        content_by_lua_block {
            ngx.on_abort(function() ngx.log(ngx.ERR, "never") end)
            ngx.sleep(0.05)
            ngx.say("done")
        }
    }
--- request
GET /t
--- response_body
done
--- no_error_log
[error]
