# Which APIs work in which context: request-free APIs everywhere, request APIs refused
# where there is no request.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: codecs and time work in init_by_lua
--- http_config
    init_by_lua_block {
        init_values = ngx.md5("x") .. " " .. ngx.encode_base64("x") .. " " .. tostring(ngx.time() > 0)
    }
--- config
    location = /t { content_by_lua_block { ngx.say(init_values) } }
--- request
GET /t
--- response_body
9dd4e461268c8034f5c8564e155c67a6 eA== true

=== TEST 2: ngx.log in init_worker_by_lua
--- http_config
    init_worker_by_lua_block { ngx.log(ngx.WARN, "worker up, phase ", ngx.get_phase()) }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log
worker up, phase init_worker

=== TEST 3: ngx.req in init_worker_by_lua is disabled in that context, as OpenResty
--- http_config
    init_worker_by_lua_block {
        local ok, err = pcall(ngx.req.get_method)
        ngx.log(ngx.WARN, "get_method: ", ok, " ", err)
    }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log
get_method: false API disabled in the current context

=== TEST 4: ngx.var in init_by_lua has no request
--- http_config
    init_by_lua_block {
        local ok, err = pcall(function() return ngx.var.uri end)
        init_var_result = tostring(ok) .. " " .. tostring(err)
    }
--- config
    location = /t { content_by_lua_block { ngx.say(init_var_result) } }
--- request
GET /t
--- response_body_like: ^false .*no request

=== TEST 5: hashes in set_by_lua
--- config
    location = /t {
        set_by_lua_block $h { return ngx.md5(ngx.var.arg_v) }
        return 200 "$h\n";
    }
--- request
GET /t?v=abc
--- response_body
900150983cd24fb0d6963f7d28e17f72

=== TEST 6: codecs in a header filter
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block { ngx.header["X-B64"] = ngx.encode_base64(ngx.var.uri) }
    }
--- request
GET /t
--- response_headers
X-B64: L3Q=

=== TEST 7: ngx.req.get_headers in the log phase
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        log_by_lua_block { ngx.log(ngx.WARN, "ua=", ngx.req.get_headers()["user-agent"]) }
    }
--- request
GET /t
--- more_headers
User-Agent: tester/1
--- error_log
ua=tester/1

=== TEST 8: ngx.sleep in header and body filters sleeps blocking
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block { ngx.sleep(0.01) ngx.header.slept = "yes" }
        body_filter_by_lua_block { ngx.sleep(0) }
    }
--- request
GET /t
--- response_headers
slept: yes
--- response_body
x
--- no_error_log
[error]

=== TEST 9: ngx.req.read_body in the log phase is refused
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        log_by_lua_block { local ok, err = pcall(ngx.req.read_body) ngx.log(ngx.WARN, "read_body: ", err) }
    }
--- request
GET /t
--- error_log
read_body: API disabled in the context of log_by_lua*

=== TEST 10: ngx.status is readable in the log phase
--- config
    location = /t {
        content_by_lua_block { ngx.exit(404) }
        log_by_lua_block { ngx.log(ngx.WARN, "logged status ", ngx.status) }
    }
--- request
GET /t
--- error_code: 404
--- error_log
logged status 404

=== TEST 11: ngx.exit(ngx.ERROR) in a header filter drops the response without an error line
--- config
    location = /t {
        content_by_lua_block { ngx.say("x") }
        header_filter_by_lua_block { return ngx.exit(ngx.ERROR) }
    }
--- request
GET /t
--- ignore_response
--- no_error_log
[error]

=== TEST 12: ngx.exit in a body filter or the log phase is refused, as current OpenResty
--- config
    location = /t {
        content_by_lua_block { ngx.say("body") }
        body_filter_by_lua_block { local ok, err = pcall(ngx.exit, ngx.OK) ngx.ctx.err = err }
        log_by_lua_block {
            local ok, err = pcall(ngx.exit, ngx.OK)
            ngx.log(ngx.WARN, "bf: ", ngx.ctx.err, "; log: ", err)
        }
    }
--- request
GET /t
--- response_body
body
--- error_log
bf: API disabled in the context of body_filter_by_lua*; log: API disabled in the context of log_by_lua*
