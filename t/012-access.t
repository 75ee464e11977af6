# The access module: allow / deny by client address, first matching rule wins; satisfy.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: deny all refuses with 403 and logs the rule
--- config
    location = /t {
        deny all;
        content_by_lua_block { ngx.say("in") }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule

=== TEST 2: an allow before deny all lets the client in
--- config
    location = /t {
        allow 127.0.0.1;
        deny all;
        content_by_lua_block { ngx.say("in") }
    }
--- request
GET /t
--- response_body
in
--- no_error_log
[error]

=== TEST 3: the first matching rule decides
--- config
    location = /t {
        deny 127.0.0.1;
        allow all;
        content_by_lua_block { ngx.say("in") }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 4: CIDR blocks
--- config
    location = /in {
        allow 127.0.0.0/8;
        deny all;
        content_by_lua_block { ngx.say("in") }
    }
    location = /out {
        allow 10.0.0.0/8;
        allow ::1;
        deny all;
        content_by_lua_block { ngx.say("in") }
    }
--- pipelined_requests eval
["GET /in", "GET /out"]
--- error_code eval
[200, 403]
--- response_body_like eval
["^in\n", "403 Forbidden"]

=== TEST 5: a location with rules of its own does not inherit the server's; one without does
--- config
    deny all;
    location = /own {
        allow all;
        content_by_lua_block { ngx.say("own") }
    }
    location = /inherited {
        content_by_lua_block { ngx.say("inherited") }
    }
--- pipelined_requests eval
["GET /own", "GET /inherited"]
--- error_code eval
[200, 403]
--- response_body_like eval
["^own\n", "403 Forbidden"]

=== TEST 6: a rule that is not an address stops the start
--- config
    location = /t {
        allow 1.2.3;
    }
--- must_die
--- error_log
invalid parameter "1.2.3"

=== TEST 7: a prefix over the address length stops the start
--- config
    location = /t {
        deny 10.0.0.0/33;
    }
--- must_die
--- error_log
invalid parameter "10.0.0.0/33"

=== TEST 8: address bits below the prefix are warned about and cleared
--- config
    location = /t {
        allow 127.0.0.1/8;
        deny all;
        content_by_lua_block { ngx.say("in") }
    }
--- request
GET /t
--- response_body
in
--- error_log
low address bits of 127.0.0.1/8 are meaningless

=== TEST 9: allow is not allowed in a location if
--- config
    location = /t {
        if ($arg_x) {
            deny all;
        }
    }
--- must_die
--- error_log
"deny" directive is not allowed here

=== TEST 10: a refusal goes through error_page
--- config
    error_page 403 /denied.html;
    location = /t {
        deny all;
    }
    location = /denied.html {
        return 200 "custom denial\n";
    }
--- request
GET /t
--- error_code: 403
--- response_body
custom denial

=== TEST 12: return runs in the rewrite phase, before the access checks (as in nginx)
--- config
    location = /t {
        deny all;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok

=== TEST 11: satisfy takes all or any
--- config
    location = /t {
        satisfy some;
    }
--- must_die
--- error_log
invalid value "some"

=== TEST 13: an error page that is itself denied: the built-in 403 page
--- config
    deny all;
    error_page 403 /denied.html;
    location = /t {
        content_by_lua_block { ngx.say("in") }
    }
    location = /denied.html {
        content_by_lua_block { ngx.say("custom") }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 14: an internal redirect (ngx.exec) is checked against the new location's rules
--- config
    location = /t {
        content_by_lua_block { ngx.exec("/private") }
    }
    location = /private {
        deny all;
        content_by_lua_block { ngx.say("secret") }
    }
--- request
GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 15: limit_except: other methods than the listed ones meet the block's rules
--- config
    location = /t {
        limit_except GET {
            deny all;
        }
        content_by_lua_block { ngx.say(ngx.req.get_method(), " in") }
    }
--- pipelined_requests eval
["GET /t", "POST /t"]
--- error_code eval
[200, 403]
--- response_body_like eval
["^GET in\n", "403 Forbidden"]

=== TEST 16: limit_except GET lets HEAD through
--- config
    location = /t {
        limit_except GET {
            deny all;
        }
        content_by_lua_block { ngx.say("in") }
    }
--- request
HEAD /t
--- error_code: 200

=== TEST 17: limit_except: the block's rules may let a method through, the location serves it
--- config
    location = /t {
        limit_except GET {
            allow 127.0.0.1;
            deny all;
        }
        content_by_lua_block { ngx.say(ngx.req.get_method(), " in") }
    }
--- request
DELETE /t
--- response_body
DELETE in

=== TEST 18: limit_except with auth_basic
--- config
    location = /t {
        limit_except GET {
            auth_basic "writers";
            auth_basic_user_file ../html/htpasswd;
        }
        content_by_lua_block { ngx.req.read_body() ngx.say(ngx.req.get_method(), " as ", ngx.var.remote_user) }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- pipelined_requests eval
["POST /t", "PUT /t"]
--- more_headers
Authorization: Basic YWxpY2U6cGFzc3dvcmQ=
--- response_body eval
["POST as alice\n", "PUT as alice\n"]

=== TEST 19: limit_except takes methods
--- config
    location = /t {
        limit_except FETCH {
            deny all;
        }
    }
--- must_die
--- error_log
invalid method "FETCH"

=== TEST 20: limit_except only in a location
--- config
    limit_except GET {
        deny all;
    }
--- must_die
--- error_log
"limit_except" directive is not allowed here
