# Access log formats and error-log line shape. The access log is pointed at the error log
# file so that --- error_log can read it.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: the combined format
--- config
    access_log logs/error.log;
    location = /t { return 200 "ok\n"; }
--- request
GET /t?x=1
--- more_headers
User-Agent: spec-agent
Referer: http://ref/
--- error_log eval
qr{^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /t\?x=1 HTTP/1\.1" 200 3 "http://ref/" "spec-agent"$}m

=== TEST 2: a custom log_format
--- http_config
    log_format mine '$request_method|$uri|$args|$status|$body_bytes_sent|$host|$server_protocol';
--- config
    access_log logs/error.log mine;
    location = /t { return 200 "hello\n"; }
--- request
GET /t?a=b
--- error_log
GET|/t|a=b|200|6|localhost|HTTP/1.1

=== TEST 3: escape=json
--- http_config
    log_format j escape=json '{"ua":"$http_user_agent"}';
--- config
    access_log logs/error.log j;
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- more_headers
User-Agent: a"b\c
--- error_log
{"ua":"a\"b\\c"}

=== TEST 4: default escaping of quotes and empty values
--- http_config
    log_format d '[$http_user_agent][$http_x_missing]';
--- config
    access_log logs/error.log d;
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- more_headers
User-Agent: a"b
--- error_log
[a\x22b][-]

=== TEST 5: access_log off
--- http_config
    log_format m 'ACCESSLINE $uri';
--- config
    access_log off;
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- no_error_log
ACCESSLINE

=== TEST 6: access_log per location
--- http_config
    log_format m 'ACCESSLINE $uri';
--- config
    location = /t { access_log logs/error.log m; return 200 "ok\n"; }
--- request
GET /t
--- error_log
ACCESSLINE /t

=== TEST 7: status and sizes of an error response
--- http_config
    log_format m 'LINE $status $body_bytes_sent $request_length';
--- config
    access_log logs/error.log m;
--- request
GET /missing
--- error_code: 404
--- error_log eval
qr/LINE 404 \d+ \d+/

=== TEST 8: request_time and msec shapes
--- http_config
    log_format m 'T $request_time $msec $pid $connection';
--- config
    access_log logs/error.log m;
    location = /t { return 200; }
--- request
GET /t
--- error_log eval
qr/T \d+\.\d{3} \d+\.\d{3} \d+ \d+/

=== TEST 9: the error-log line shape
--- config
    # (the server alone)
--- request
GET /missing.txt
--- error_code: 404
--- error_log eval
qr{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[error\] \d+#\d+: \*\d+ open\(\) "[^"]+" failed \(2: No such file or directory\), client: 127\.0\.0\.1, server: localhost, request: "GET /missing\.txt HTTP/1\.1", host: "localhost"$}m

=== TEST 10: error_log level filters lines
--- config
    # (the server alone)
--- log_level: crit
--- request
GET /missing.txt
--- error_code: 404
--- no_error_log
[error]

=== TEST 11: time_iso8601 and time_local
--- http_config
    log_format m 'ISO $time_iso8601 LOCAL $time_local';
--- config
    access_log logs/error.log m;
    location = /t { return 200; }
--- request
GET /t
--- error_log eval
qr/ISO \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d LOCAL \d\d\/\w{3}\/\d{4}/

=== TEST 12: log_format with several strings
--- http_config
    log_format m 'A=$uri '
                 'B=$status';
--- config
    access_log logs/error.log m;
    location = /t { return 200; }
--- request
GET /t
--- error_log
A=/t B=200

=== TEST 13: duplicate log_format name
--- config
    # (the server alone)
--- http_config
    log_format m 'x';
    log_format m 'y';
--- must_die
--- error_log
duplicate "log_format" name "m"

=== TEST 14: access_log if=: only requests whose condition is neither empty nor 0
--- http_config
    log_format m 'logged $uri';
    map $status $loggable {
        ~^[23]  0;
        default 1;
    }
--- config
    access_log logs/error.log m if=$loggable;
    location = /ok { return 200 "ok\n"; }
    location = /bad { return 500; }
--- pipelined_requests eval
["GET /ok", "GET /bad"]
--- error_code eval
[200, 500]
--- error_log
logged /bad
--- no_error_log
logged /ok

=== TEST 15: access_log with variables in its path: a file per value, opened per line
--- config
    location /t {
        access_log logs/access-$arg_who.log;
        return 200 "ok\n";
    }
    location = /read {
        content_by_lua_block {
            for _, who in ipairs { "alice", "bob" } do
                local f = io.open(ngx.config.prefix() .. "logs/access-" .. who .. ".log")
                local text = f and f:read("*a") or "missing"
                if f then f:close() end
                local n = select(2, text:gsub("\n", ""))
                ngx.say(who, ": ", n, " ", text:match('"GET /t%?who=' .. who .. ' HTTP/1.1"') ~= nil)
            end
        }
    }
--- pipelined_requests eval
["GET /t?who=alice", "GET /t?who=bob", "GET /t?who=alice", "GET /read"]
--- response_body eval
["ok\n", "ok\n", "ok\n", "alice: 2 true\nbob: 1 true\n"]

=== TEST 16: access_log with variables writes nothing while the root directory is missing
--- config
    location /t {
        root html/nowhere;
        access_log logs/access-$arg_who.log;
        return 200 "ok\n";
    }
--- request
GET /t?who=carol
--- response_body
ok
--- error_log eval
qr/testing ".*html\/nowhere" existence failed \(2: No such file or directory\)/

=== TEST 17: a request refused before its head was read whole is logged too
--- config
    access_log logs/error.log;
    location = /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: a/b\r\n\r\n"
--- error_code: 400
--- error_log eval
qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /t HTTP/1\.1" 400 \d+ "-" "-"$}m

=== TEST 18: a syslog target with an unknown parameter stops the start, in nginx's words
--- config
    access_log syslog:server=127.0.0.1:5514,facility=nope;
--- must_die
--- error_log
unknown syslog facility "nope"

=== TEST 19: syslog: at the main level needs a server
--- main_config
    error_log syslog:facility=local7;
--- config
    # (the server alone)
--- must_die
--- error_log
no syslog server specified
