# The rewrite module's `if`, in servers and locations.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: if with = and return
--- config
    location = /t {
        if ($arg_a = "1") {
            return 200 "one\n";
        }
        return 200 "other\n";
    }
--- pipelined_requests eval
["GET /t?a=1", "GET /t?a=2"]
--- response_body eval
["one\n", "other\n"]

=== TEST 2: if with != and a bare variable
--- config
    location = /t {
        set $r "";
        if ($arg_a != "x") { set $r "${r}ne;"; }
        if ($arg_b) { set $r "${r}b;"; }
        return 200 "[$r]\n";
    }
--- pipelined_requests eval
["GET /t?a=y&b=1", "GET /t?a=x&b=0"]
--- response_body eval
["[ne;b;]\n", "[]\n"]

=== TEST 3: regex conditions
--- config
    location /t {
        if ($uri ~ ^/t/(\d+)$) { return 200 "digits\n"; }
        if ($http_x_mode ~* ^FAST) { return 200 "fast\n"; }
        if ($uri !~ ^/t/keep) { return 200 "not keep\n"; }
        return 200 "keep\n";
    }
--- pipelined_requests eval
["GET /t/42", "GET /t/x", "GET /t/keep"]
--- response_body eval
["digits\n", "not keep\n", "keep\n"]

=== TEST 4: case-insensitive regex with a header
--- config
    location = /t {
        if ($http_x_mode ~* ^fast) { return 200 "fast\n"; }
        return 200 "slow\n";
    }
--- request
GET /t
--- more_headers
X-Mode: FAST-lane
--- response_body
fast

=== TEST 5: file tests
--- config
    location /t {
        if (-f $document_root/exists.txt) { set $a "file"; }
        if (!-f $document_root/missing.txt) { set $b "nofile"; }
        if (-d $document_root/sub) { set $c "dir"; }
        if (-e $document_root/sub) { set $d "exists"; }
        return 200 "$a $b $c $d\n";
    }
--- user_files
>>> exists.txt
x
>>> sub/f.txt
y
--- request
GET /t
--- response_body
file nofile dir exists

=== TEST 6: server-level if
--- config
    if ($http_x_block) {
        return 403;
    }
    location = /t { return 200 "open\n"; }
--- request
GET /t
--- more_headers
X-Block: 1
--- error_code: 403

=== TEST 7: a location if switches to the block's handlers
--- config
    location = /t {
        if ($arg_lua) {
            content_by_lua_block { ngx.say("lua in if") }
        }
        content_by_lua_block { ngx.say("outer") }
    }
--- pipelined_requests eval
["GET /t?lua=1", "GET /t"]
--- response_body eval
["lua in if\n", "outer\n"]

=== TEST 8: settings inside if inherit the location's
--- config
    location = /t {
        default_type text/x-outer;
        if ($arg_x) {
            add_header X-If yes;
        }
        return 200 "ok\n";
    }
--- request
GET /t?x=1
--- response_headers
X-If: yes
Content-Type: text/x-outer

=== TEST 9: if without parentheses
--- config
    location = /t {
        if $a { return 200; }
    }
--- must_die
--- error_log
invalid condition

=== TEST 10: unknown operator in a condition
--- config
    location = /t {
        if ($a <> b) { return 200; }
    }
--- must_die
--- error_log
unexpected "<>" in condition

=== TEST 11: if inside if is not allowed
--- config
    location = /t {
        if ($a) { if ($b) { return 200; } }
    }
--- must_die
--- error_log
"if" directive is not allowed here

=== TEST 12: only rewrite directives in a server-level if
--- config
    if ($a) { root /x; }
--- must_die
--- error_log
"root" directive is not allowed here

=== TEST 13: access_by_lua inside if
--- config
    location = /t {
        if ($arg_deny) {
            access_by_lua_block { ngx.exit(403) }
        }
        content_by_lua_block { ngx.say("allowed") }
    }
--- pipelined_requests eval
["GET /t", "GET /t?deny=1"]
--- error_code eval
[200, 403]

=== TEST 14: rewrite_by_lua inside if runs, instead of the location's own
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.from = "location" }
        if ($arg_x) {
            rewrite_by_lua_block { ngx.ctx.from = "if block" }
        }
        content_by_lua_block { ngx.say(ngx.ctx.from) }
    }
--- pipelined_requests eval
["GET /t?x=1", "GET /t"]
--- response_body eval
["if block\n", "location\n"]

=== TEST 15: an if block inherits the location's rewrite_by_lua
--- config
    location = /t {
        rewrite_by_lua_block { ngx.ctx.n = (ngx.ctx.n or 0) + 1 }
        if ($arg_x) {
            add_header X-If 1;
        }
        content_by_lua_block { ngx.say(ngx.ctx.n) }
    }
--- request
GET /t?x=1
--- response_body
1
