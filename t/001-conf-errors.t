# Config errors stop the server with nginx's words.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: unknown directive
--- config
    location = /t {
        foo_bar 1;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*unknown directive "foo_bar" in \S+nginx\.conf:\d+/

=== TEST 2: directive in the wrong context
--- config
    location = /t {
        worker_processes 2;
    }
--- must_die
--- error_log
"worker_processes" directive is not allowed here

=== TEST 3: listen is not allowed in a location
--- config
    location = /t {
        listen 8080;
    }
--- must_die
--- error_log
"listen" directive is not allowed here

=== TEST 4: wrong number of arguments
--- config
    location = /t {
        root;
    }
--- must_die
--- error_log
invalid number of arguments in "root" directive

=== TEST 5: duplicate directive
--- config
    location = /t {
        root /a;
        root /b;
    }
--- must_die
--- error_log
"root" directive is duplicate

=== TEST 6: bad flag value
--- config
    server_tokens maybe;
--- must_die
--- error_log
invalid value "maybe" in "server_tokens" directive, it must be "on" or "off"

=== TEST 7: bad size
--- config
    client_max_body_size 10q;
--- must_die
--- error_log
"client_max_body_size" directive invalid value

=== TEST 8: bad time
--- config
    keepalive_timeout 5parsecs;
--- must_die
--- error_log
"keepalive_timeout" directive invalid value

=== TEST 9: unterminated block
--- config
    location = /t {
        return 200;
--- must_die
--- error_log
unexpected end of file, expecting "}"

=== TEST 10: missing semicolon before a closing brace
--- config
    location = /t {
        return 200
    }
--- must_die
--- error_log
unexpected "}"

=== TEST 11: block directive without a block
--- config
    location = /t;
--- must_die
--- error_log
directive "location" has no opening "{"

=== TEST 12: non-block directive with a block
--- config
    location = /t {
        root /x { }
    }
--- must_die
--- error_log
directive "root" is not terminated by ";"

=== TEST 13: include of a missing file
--- config
    # (the server alone)
--- http_config
    include does-not-exist.conf;
--- must_die
--- error_log eval
qr/open\(\) "\S+does-not-exist\.conf" failed \(2: No such file or directory\)/

=== TEST 14: include glob matching nothing is fine
--- http_config
    include none/*.conf;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok

=== TEST 15: include of a types file works
--- config
    # (the server alone)
--- http_config
    include ../html/mime.types;
--- user_files
>>> mime.types
types {
    text/css css;
}
>>> a.css
body {}
--- request
GET /a.css
--- response_headers
Content-Type: text/css

=== TEST 16: unknown variable
--- config
    location = /t { return 200 $no_such_var; }
--- must_die
--- error_log
unknown "no_such_var" variable

=== TEST 17: invalid return code
--- config
    location = /t { return abc; }
--- must_die
--- error_log
invalid return code "abc"

=== TEST 18: bad location regex
--- config
    location ~ ([a- {
        return 200;
    }
--- must_die
--- error_log
pcre2_compile() failed

=== TEST 19: quoted strings and escapes in arguments
--- config
    location = /t {
        return 200 "a \"quoted\" \\ value\n";
    }
--- request
GET /t
--- response_body
a "quoted" \ value

=== TEST 20: single-quoted argument and comments
--- config
    location = /t {   # a comment { with braces }
        return 200 'single # not a comment
';
    }
--- request
GET /t
--- response_body
single # not a comment

=== TEST 21: unknown log level
--- config
    # (the server alone)
--- main_config
    error_log logs/x.log verbose;
--- must_die
--- error_log
invalid log level "verbose"

=== TEST 22: bad worker_processes
--- config
    # (the server alone)
--- main_config
    worker_processes many;
--- must_die
--- error_log
invalid value "many" in "worker_processes" directive

=== TEST 23: unknown log format
--- config
    access_log logs/a.log nosuchformat;
--- must_die
--- error_log
unknown log format "nosuchformat"

=== TEST 24: http block twice
--- config
    # (the server alone)
--- main_config
    http { }
--- must_die
--- error_log
"http" directive is duplicate

=== TEST 25: location outside its parent
--- config
    location /a {
        location /b { }
    }
--- must_die
--- error_log
location "/b" is outside location "/a"

=== TEST 26: named location only at server level
--- config
    location /a {
        location @n { }
    }
--- must_die
--- error_log
named location "@n" can be on the server level only

=== TEST 27: no-op directives of modules we lack are accepted
--- http_config
    server_names_hash_bucket_size 64;
    types_hash_max_size 2048;
    tcp_nopush on;
--- main_config
    pcre_jit on;
    timer_resolution 100ms;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok

=== TEST 25: load_module of a module oxiresty has built in: nothing to load, the config runs
--- main_config
    load_module modules/ndk_http_module.so;
    load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
    load_module modules/ngx_http_echo_module.so;
    load_module modules/ngx_http_headers_more_filter_module.so;
--- config
    location = /t { content_by_lua_block { ngx.say("lua is here") } }
--- request
GET /t
--- response_body
lua is here

=== TEST 26: load_module of a module oxiresty lacks stops the start, naming it
--- main_config
    load_module modules/ngx_stream_module.so;
--- config
    # (the server alone)
--- must_die
--- error_log eval
qr/\[emerg\] .*module "ngx_stream_module" is not built into oxiresty, and it loads no modules \(load_module "modules\/ngx_stream_module\.so"\) in \S+nginx\.conf:\d+/
