# auth_basic: HTTP Basic authentication against an htpasswd file.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: no credentials: 401 with the realm
--- config
    location = /t {
        auth_basic "closed site";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="closed site"
--- response_body_like: 401 Authorization Required

=== TEST 2: the right password (apr1) lets the user in; $remote_user names them
--- config
    location = /t {
        auth_basic "closed site";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in as ", ngx.var.remote_user) }
    }
--- user_files
>>> htpasswd
# users
bob:{PLAIN}secret
alice:$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1:a comment
--- request
GET /t
--- more_headers
Authorization: Basic YWxpY2U6cGFzc3dvcmQ=
--- response_body
in as alice

=== TEST 3: a wrong password: 401, logged
--- config
    location = /t {
        auth_basic "closed site";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:$1$abcdefgh$G//4keteveJp0qb8z2DxG/
--- request
GET /t
--- more_headers
Authorization: Basic YWxpY2U6d3Jvbmc=
--- error_code: 401
--- error_log
user "alice": password mismatch

=== TEST 4: an unknown user: 401, logged
--- config
    location = /t {
        auth_basic "closed site";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- request
GET /t
--- more_headers
Authorization: Basic Ym9iOnBhc3N3b3Jk
--- error_code: 401
--- error_log
user "bob" was not found in

=== TEST 5: {SHA} and {PLAIN} forms
--- config
    location = /t {
        auth_basic "x";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=
bob:{PLAIN}password
--- pipelined_requests eval
["GET /t", "GET /t"]
--- more_headers
Authorization: Basic YWxpY2U6cGFzc3dvcmQ=
--- response_body eval
["in\n", "in\n"]

=== TEST 6: auth_basic off below a protected level
--- config
    auth_basic "x";
    auth_basic_user_file ../html/htpasswd;
    location = /public {
        auth_basic off;
        content_by_lua_block { ngx.say("public") }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- request
GET /public
--- response_body
public

=== TEST 7: satisfy any: an allowed address needs no password
--- config
    location = /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        auth_basic "x";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- request
GET /t
--- response_body
in

=== TEST 8: satisfy any: denied and no password: the 401 wins
--- config
    location = /t {
        satisfy any;
        deny all;
        auth_basic "x";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="x"

=== TEST 9: satisfy any: denied but the right password: in
--- config
    location = /t {
        satisfy any;
        deny all;
        auth_basic "x";
        auth_basic_user_file ../html/htpasswd;
        content_by_lua_block { ngx.say("in") }
    }
--- user_files
>>> htpasswd
alice:{PLAIN}password
--- request
GET /t
--- more_headers
Authorization: Basic YWxpY2U6cGFzc3dvcmQ=
--- response_body
in

=== TEST 10: a user file that is not there: 500, logged
--- config
    location = /t {
        auth_basic "x";
        auth_basic_user_file ../html/nothere;
        content_by_lua_block { ngx.say("in") }
    }
--- request
GET /t
--- more_headers
Authorization: Basic YWxpY2U6cGFzc3dvcmQ=
--- error_code: 500
--- error_log eval
qr/open\(\) ".*nothere" failed \(2: No such file or directory\)/
