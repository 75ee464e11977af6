# charset: the charset label of text responses.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: text types get the charset
--- config
    charset utf-8;
    location = /t {
        default_type text/plain;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
Content-Type: text/plain; charset=utf-8

=== TEST 2: other types do not; text/html always does, error pages included
--- config
    charset utf-8;
    location = /img {
        default_type image/png;
        return 200 "x";
    }
    location = /missing {
        return 404;
    }
--- pipelined_requests eval
["GET /img", "GET /missing"]
--- error_code eval
[200, 404]
--- response_headers eval
["", "Content-Type: text/html; charset=utf-8\n"]

=== TEST 3: an image stays unlabelled
--- config
    charset utf-8;
    location = /img {
        default_type image/png;
        return 200 "x";
    }
--- request
GET /img
--- response_headers
Content-Type: image/png

=== TEST 4: a charset already given is kept; charset off turns it off below
--- config
    charset koi8-r;
    location = /given {
        content_by_lua_block { ngx.header.content_type = "text/plain; charset=latin1" ngx.say("x") }
    }
    location = /off {
        charset off;
        default_type text/plain;
        return 200 "x";
    }
--- pipelined_requests eval
["GET /given", "GET /off"]
--- response_headers eval
["", "Content-Type: text/plain\n"]

=== TEST 5: a Lua content type without charset is labelled
--- config
    charset utf-8;
    location = /t {
        content_by_lua_block { ngx.header.content_type = "application/javascript" ngx.say("x") }
    }
--- request
GET /t
--- response_headers
Content-Type: application/javascript; charset=utf-8

=== TEST 6: charset_types replaces the list, text/html stays in it
--- config
    charset utf-8;
    charset_types application/json;
    location = /json {
        default_type application/json;
        return 200 "{}";
    }
    location = /plain {
        default_type text/plain;
        return 200 "x";
    }
--- pipelined_requests eval
["GET /json", "GET /plain"]
--- response_headers eval
["", "Content-Type: text/plain\n"]

=== TEST 7: charset_types: the listed type is labelled
--- config
    charset utf-8;
    charset_types application/json;
    location = /json {
        default_type application/json;
        return 200 "{}";
    }
--- request
GET /json
--- response_headers
Content-Type: application/json; charset=utf-8

=== TEST 8: a charset already in the Content-Type is kept
--- config
    charset koi8-r;
    location = /given {
        content_by_lua_block { ngx.header.content_type = "text/plain; Charset=latin1" ngx.say("x") }
    }
--- request
GET /given
--- response_headers
Content-Type: text/plain; Charset=latin1
