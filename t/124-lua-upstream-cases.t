# Behaviours checked against lua-nginx-module's own test suite (phases, code cache,
# raw_header, *_by_lua_block parsing), each written here as our own block.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: rewrite_by_lua runs after the rewrite module's directives (set)
--- config
    location /lua {
        rewrite_by_lua "ngx.exit(ngx.OK)";
        set $foo hello;
        content_by_lua 'ngx.say(ngx.var.foo)';
    }
--- request
GET /lua
--- response_body
hello

=== TEST 2: access_by_lua ngx.exit(200) finishes the request: content does not run
--- config
    location /lua {
        access_by_lua "ngx.exit(ngx.HTTP_OK)";
        set $foo hello;
        content_by_lua 'ngx.say(ngx.var.foo)';
    }
--- request
GET /lua
--- response_body

=== TEST 3: a status set from access_by_lua, output, then ngx.exit(200): the status stays, no error page
--- config
    error_page 410 @err;
    location @err {
        return 200 "blah";
    }
    location /foo {
        access_by_lua '
            ngx.status = ngx.HTTP_GONE
            ngx.say("This is our own content")
            ngx.exit(ngx.HTTP_OK)
        ';
        content_by_lua 'ngx.say("BAD")';
    }
--- request
    GET /foo
--- response_body
This is our own content
--- error_code: 410

=== TEST 4: ngx.exit(404) after output in access_by_lua logs OpenResty's complaint and keeps the output
--- config
    location /lua {
        access_by_lua "ngx.say('hi');ngx.exit(404);ngx.say(', you')";
        content_by_lua 'ngx.exit(ngx.OK)';
    }
--- request
GET /lua
--- response_body
hi
--- error_log
attempt to set status 404 via ngx.exit after sending out the response status 200

=== TEST 5: rewrite ... last changes the URI: the location's rewrite_by_lua does not run
--- config
    location /main {
        rewrite ^/main/xyz\.html$ /abc.html last;
        rewrite_by_lua 'ngx.exit(503)';
    }
    location ~ /abc.html {
        return 200 "abc\n";
    }
--- request
    GET /main/xyz.html
--- response_body
abc

=== TEST 6: rewrite without a flag changes the URI: rewrite_by_lua does not run either
--- config
    location /main {
        rewrite ^/main/xyz\.html$ /abc.html;
        rewrite_by_lua 'ngx.exit(503)';
    }
    location ~ /abc.html {
        return 200 "abc\n";
    }
--- request
    GET /main/xyz.html
--- response_body
abc

=== TEST 7: rewrite ... break: the URI changes in place and rewrite_by_lua runs
--- config
    location /main {
        rewrite ^/main/xyz\.html$ /abc.html break;
        rewrite_by_lua 'ngx.exit(503)';
    }
--- request
    GET /main/xyz.html
--- error_code: 503
--- response_body_like: 503 Service Temporarily Unavailable

=== TEST 8: rewrite_by_lua_file with a path from a regex capture
--- config
    location ~ /lua/(.+)$ {
        rewrite_by_lua_file html/$1.lua;
        content_by_lua 'ngx.print("BAD")';
    }
--- user_files
>>> hi.lua
ngx.say("Hi")
ngx.eof()
ngx.exit(ngx.HTTP_OK)
--- request
GET /lua/hi
--- response_body
Hi

=== TEST 9: a *_by_lua_file that names a directory is a 503 (cannot read), as OpenResty
--- config
    location = /t {
        content_by_lua_file html;
    }
--- request
GET /t
--- error_code: 503
--- error_log
cannot read

=== TEST 10: rewrite_by_lua returning does not send headers: later settings still shape them
--- config
    location /lua {
        rewrite_by_lua 'return';
        default_type text/css;
        add_header Bar Baz;
        content_by_lua 'ngx.say("foo")';
    }
--- request
GET /lua
--- response_headers
Bar: Baz
Content-Type: text/css
--- response_body
foo

=== TEST 11: lua_code_cache off: _G is the request's own global table
--- config
    lua_code_cache off;
    location /t {
        content_by_lua '
            if not _G.foo then
                _G.foo = 1
            else
                _G.foo = _G.foo + 1
            end
            ngx.say("_G.foo: ", _G.foo)
        ';
    }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- response_body eval
["_G.foo: 1\n", "_G.foo: 1\n"]

=== TEST 12: lua_code_cache off: edited modules are loaded again for content_by_lua_file and set_by_lua_file
--- http_config
    lua_package_path '$prefix/html/?.lua;;';
--- config
    location /lua {
        lua_code_cache off;
        content_by_lua_file html/test.lua;
    }
    location /set {
        lua_code_cache off;
        set_by_lua_file $a html/set.lua;
        return 200 "$a\n";
    }
    location /update {
        content_by_lua '
            local p = ngx.config.prefix()
            local f = assert(io.open(p .. "html/foo.lua", "w"))
            f:write("module(..., package.seeall); ngx.say(102); return 102")
            f:close()
            ngx.say("updated")
        ';
    }
--- user_files
>>> test.lua
local foo = require "foo";
>>> set.lua
return require "foo"
>>> foo.lua
module(..., package.seeall); ngx.say(32);
--- pipelined_requests eval
["GET /lua", "GET /update", "GET /lua"]
--- response_body eval
["32\n", "updated\n", "102\n"]

=== TEST 13: lua_code_cache off: a function built in init_by_lua still runs
--- http_config
    lua_code_cache off;
    init_by_lua '
      test = setfenv(
        function()
          ngx.say(tostring(table))
        end,
        setmetatable({},
        {
          __index = function(self, key)
          return rawget(self, key) or _G[key]
        end
      }))';
--- config
    location = /t {
        content_by_lua 'test()';
    }
--- request
GET /t
--- response_body_like chop
^table: 0x\d*?[1-9a-fA-F]
--- no_error_log
[error]

=== TEST 14: lua_need_request_body at http level gives $request_body, bytes kept
--- http_config
    lua_need_request_body on;
--- config
    location /echo_body {
        content_by_lua '
            ngx.print(ngx.var.request_body or "nil")
        ';
    }
--- request eval
"POST /echo_body\nhello\x00\x01\x02\nworld\x03\x04\xff"
--- response_body eval
"hello\x00\x01\x02\nworld\x03\x04\xff"

=== TEST 15: require "ngx" gives the ngx table, in set_by_lua and content_by_lua
--- config
    location /ngx {
        set_by_lua $res '
            local ngx = require "ngx"
            return ngx.escape_uri(" ")
        ';
        content_by_lua '
            local ngx = require "ngx"
            ngx.say("hello, ", ngx.var.res)
        ';
    }
--- request
GET /ngx
--- response_body
hello, %20

=== TEST 16: ngx.req.raw_header skips empty lines before the request line
--- config
    location /t {
        content_by_lua 'ngx.print(ngx.req.raw_header())';
    }
--- raw_request eval
"\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

=== TEST 17: ngx.req.raw_header(true) with leading empty lines
--- config
    location /t {
        content_by_lua 'ngx.print(ngx.req.raw_header(true))';
    }
--- raw_request eval
"\r\n\r\nGET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
--- response_body eval
"Host: localhost\r\nConnection: close\r\n\r\n"

=== TEST 18: a folded header line (leading space) is refused, as nginx >= 1.21.1
--- config
    location /t {
        content_by_lua 'ngx.print(ngx.req.raw_header())';
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nFoo: bar baz\r\n  blah\r\n\r\n"
--- error_code: 400
--- error_log
client sent invalid header line

=== TEST 19: ngx.req.raw_header(true) rebuilds the lines received with CRLF ends (a client's bare LF is not kept)
--- config
    location /t {
        content_by_lua 'ngx.print(ngx.req.raw_header(true))';
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\nConnection: close\r\nContent-Length: 5\n\r\nhello"
--- response_body eval
"Host: localhost\r\nConnection: close\r\nContent-Length: 5\r\n\r\n"

=== TEST 20: *_by_lua_block: braces inside strings, escaped quotes, long brackets and comments
--- config
    location = /t {
        content_by_lua_block {
            ngx.say("}1, 2)")
            ngx.say('{1, 2)')
            ngx.say("\"}1, 2)")
            ngx.say('\'{1, 2)')
            --[[
                {{{

                        }
            ]]
            --[==[
                }}}
                        {
            ]==]
            --[[
                ]=]
            '  "
                        }
            ]]
            --}} {}
            ngx.say("ok")
        }
    }
--- request
GET /t
--- response_body
}1, 2)
{1, 2)
"}1, 2)
'{1, 2)
ok

=== TEST 21: every *_by_lua_block phase in one location, braces in their strings
--- http_config
    init_by_lua_block {
        glob = "init by lua }here{"
    }
    init_worker_by_lua_block {
        glob = glob .. ", init worker }here{"
    }
--- config
    location = /t {
        set $a '';
        rewrite_by_lua_block {
            local s = ngx.var.a
            s = s .. "}rewrite{\n"
            ngx.var.a = s
        }
        access_by_lua_block {
            local s = ngx.var.a
            s = s .. '}access{\n'
            ngx.var.a = s
        }
        content_by_lua_block {
            local s = ngx.var.a
            s = s .. [[}content{]]
            ngx.say(s)
            ngx.say("glob: ", glob)
        }
        log_by_lua_block {
            print("log by lua running \"}{!\"")
        }
        header_filter_by_lua_block {
            ngx.header["Foo"] = "\"Hello, world\""
            ngx.header["Content-Length"] = nil
        }
        body_filter_by_lua_block {
            local data, eof = ngx.arg[1], ngx.arg[2]
            if eof then
                if not data then
                    data = ""
                end
                data = data .. "}body filter{\n"
                ngx.arg[1] = data
            end
        }
    }
--- request
GET /t
--- response_body
}rewrite{
}access{
}content{
glob: init by lua }here{, init worker }here{
}body filter{
--- response_headers
Foo: "Hello, world"
--- error_log
log by lua running "}{!"
--- no_error_log
[error]

=== TEST 22: *_by_lua_block with an unclosed long string is refused at startup
--- config
    location = /t {
        content_by_lua_block {
            ngx.say([[hello, world")
        }
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*? Lua code block missing the closing long bracket in .*?\bnginx\.conf:\d+/

=== TEST 23: *_by_lua_block with an unclosed long comment is refused at startup
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(--[[hello, world")
        }
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*? Lua code block missing the closing long bracket in .*?\bnginx\.conf:\d+/

=== TEST 24: *_by_lua_block with a stray closing long bracket is refused at startup
--- config
    location = /t {
        content_by_lua_block {
            ]=]
        }
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*? unexpected lua closing long-bracket in .*?/nginx\.conf:\d+}

=== TEST 25: *_by_lua_block on one line
--- config
    location = /t {
        content_by_lua_block {ngx.say("hello, world", {"!"})}
    }
--- request
GET /t
--- response_body
hello, world!

=== TEST 26: ngx.req.raw_header is the head as received, whatever set_header, clear_header and set_body_data changed
--- config
    location /t {
        content_by_lua_block {
            ngx.req.set_header("Foo", "changed")
            ngx.req.clear_header("Bar")
            ngx.req.read_body()
            ngx.req.set_body_data("longer body")
            ngx.print(ngx.req.raw_header(true))
        }
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\nFoo: as sent\r\nBar: 1\r\nConnection: close\r\n\r\n"
--- response_body eval
"Host: localhost\r\nFoo: as sent\r\nBar: 1\r\nConnection: close\r\n\r\n"

=== TEST 27: hashes and escaping take nil and false as "", as lua-resty-core
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.md5(false) == ngx.md5(""), " ", ngx.md5(nil) == ngx.md5(""))
            ngx.say(ngx.crc32_short(false), " ", ngx.sha1_bin(false) == ngx.sha1_bin(""))
            ngx.say("[", ngx.escape_uri(false), "][", ngx.unescape_uri(false), "]")
            ngx.say(ngx.escape_uri(1.5), " ", ngx.md5(true) == ngx.md5("true"))
        }
    }
--- request
GET /t
--- response_body
true true
0 true
[][]
1.5 true

=== TEST 28: ngx.is_subrequest is false (read in a header filter after `return`)
--- config
    location = /t {
        return 201;
        header_filter_by_lua '
            ngx.log(ngx.WARN, "is subrequest: ", ngx.is_subrequest)
        ';
    }
--- request
GET /t
--- error_code: 201
--- response_body
--- error_log
is subrequest: false,

=== TEST 29: ngx.exit kept in a module's local at load time still exits, request after request
--- http_config
    lua_package_path '$prefix/html/?.lua;;';
--- config
    location = /t {
        content_by_lua_block {
            local foo = require "foo"
            foo.go()
        }
    }
--- user_files
>>> foo.lua
local exit = ngx.exit

local function go()
    exit(403)
    return
end

return { go = go }
--- pipelined_requests eval
["GET /t", "GET /t"]
--- error_code eval
[403, 403]
--- response_body_like eval
["403 Forbidden", "403 Forbidden"]
--- no_error_log
[error]

=== TEST 30: ngx.is_subrequest outside a request: no request found
--- http_config
    init_by_lua_block {
        local ok, err = pcall(function() return ngx.is_subrequest end)
        package.loaded.res = tostring(ok) .. " " .. tostring(err)
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say(package.loaded.res) }
    }
--- request
GET /t
--- response_body
false no request found

=== TEST 31: ngx.sleep in an xpcall error handler cannot yield: the handler fails, the code goes on
--- config
    location = /t {
        content_by_lua '
            local function f()
                return error(1)
            end
            local function err()
                ngx.sleep(0.001)
            end
            xpcall(f, err)
            ngx.say("ok")
        ';
    }
--- request
    GET /t
--- response_body
ok
--- no_error_log
[error]

=== TEST 32: ngx.sleep while a module is being required: attempt to yield across C-call boundary, a 500
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua '
            package.loaded["foosleep"] = nil
            require "foosleep";
        ';
    }
--- request
    GET /t
--- user_files
>>> foosleep.lua
ngx.sleep(0.001)
--- error_code: 500
--- error_log eval
qr{runtime error: attempt to yield across (?:metamethod/)?C-call boundary}

=== TEST 33: ngx.exit after a failed sleep in an xpcall handler
--- config
    location /t {
         content_by_lua "
            local function sleep(t)
                ngx.sleep(t)
            end
            local function wait()
                 xpcall(function () error(1) end, function() return sleep(0.001) end)
                 ngx.exit(200)
            end
            wait()
         ";
    }
--- request
    GET /t
--- response_body
--- no_error_log
[error]
[alert]

=== TEST 34: ngx.req.set_uri(uri, true) after a failed sleep in an xpcall handler
--- config
    location /t {
         rewrite_by_lua '
            local function sleep(t)
                ngx.sleep(t)
            end
            local function wait()
                 xpcall(function () error(1) end, function() return sleep(0.001) end)
                 ngx.req.set_uri("/dummy", true)
            end
            wait()
         ';
    }
    location /dummy {
        return 200 "ok\n";
    }
--- request
    GET /t
--- response_body
ok
--- no_error_log
[error]
[alert]

=== TEST 35: ngx.sleep of a string that is not a number
--- config
    location /test {
        content_by_lua '
            ngx.sleep("a")
        ';
    }
--- request
GET /test
--- error_code: 500
--- error_log
bad argument #1 to 'sleep'

=== TEST 36: coroutines in init_by_lua: globals set there are seen by requests
--- http_config
    init_by_lua '
        local function f()
            foo = 32
            coroutine.yield(78)
            bar = coroutine.status(coroutine.running())
        end
        local co = coroutine.create(f)
        local ok, err = coroutine.resume(co)
        if not ok then
            print("Failed to resume our co: ", err)
            return
        end
        baz = err
        coroutine.resume(co)
    ';
--- config
    location /lua {
        content_by_lua '
            ngx.say("foo = ", foo)
            ngx.say("bar = ", bar)
            ngx.say("baz = ", baz)
        ';
    }
--- request
GET /lua
--- response_body
foo = 32
bar = running
baz = 78
--- no_error_log
[error]
Failed to resume our co:

=== TEST 37: a field added to the ngx table in init_by_lua stays
--- http_config
    init_by_lua '
        print("INIT 1: foo = ", ngx.foo)
        ngx.foo = 3
        print("INIT 2: foo = ", ngx.foo)
    ';
--- config
    location /t {
        content_by_lua 'ngx.say(ngx.foo)';
    }
--- request
GET /t
--- response_body
3
--- error_log
INIT 1: foo = nil
INIT 2: foo = 3

=== TEST 38: a syntax error in init_by_lua_block is reported in Lua's words under init_by_lua
--- http_config
    init_by_lua_block {
        ngx.log(ngx.debug, "pass")
        error("failed to init"
        ngx.log(ngx.debug, "unreachable")
    }
--- config
    location /lua {
        content_by_lua_block {
            ngx.say("hello world")
        }
    }
--- must_die
--- error_log eval
qr/init_by_lua error: init_by_lua\(nginx.conf:\d+\):4: '\)' expected \(to close '\(' at line 3\) near 'ngx'/

=== TEST 39: a syntax error in init_by_lua_file is reported under init_by_lua_file
--- http_config
    init_by_lua_file html/init.lua;
--- config
    location /lua {
        content_by_lua_block {
            ngx.say("hello world")
        }
    }
--- user_files
>>> init.lua
    ngx.log(ngx.debug, "pass")
    error("failed to init"
    ngx.log(ngx.debug, "unreachable")
--- must_die
--- error_log eval
qr|init_by_lua_file error: .*/html/init.lua:3: '\)' expected \(to close '\(' at line 2\) near 'ngx'|

=== TEST 40: an error in init_worker_by_lua_file is logged under init_worker_by_lua_file; the worker serves
--- http_config
    init_worker_by_lua_file html/iw.lua;
--- config
    location /t {
        content_by_lua_block { ngx.say("serving") }
    }
--- user_files
>>> iw.lua
error("boom")
--- request
GET /t
--- response_body
serving
--- error_log eval
qr|\[error\] .*init_worker_by_lua_file error: .*/html/iw\.lua:1: boom|

=== TEST 41: ngx.ctx in init_worker_by_lua is a table of that phase's own
--- http_config
    init_worker_by_lua '
        ngx.ctx.foo = "hello world"
        ngx.log(ngx.WARN, "foo = ", ngx.ctx.foo)
    ';
--- config
    location /t {
        content_by_lua_block { ngx.say(ngx.ctx.foo) }
    }
--- request
    GET /t
--- response_body
nil
--- error_log
foo = hello world
--- no_error_log
[error]

=== TEST 42: ngx.say in init_worker_by_lua: API disabled in the context of init_worker_by_lua*
--- http_config
    init_worker_by_lua '
        ngx.say("hello")
    ';
--- config
    location /t {
        content_by_lua '
            ngx.say("foo = ", foo)
        ';
    }
--- request
    GET /t
--- response_body
foo = nil
--- error_log
API disabled in the context of init_worker_by_lua*

=== TEST 43: os.getenv in init_by_lua sees `env NAME=value` (case-sensitive), as with lua-resty-core
--- main_config
env FOO=hello;
--- http_config
    init_by_lua_block {
        package.loaded.foo = os.getenv("FOO")
    }
--- config
location /t {
    content_by_lua_block {
        ngx.say(package.loaded.foo, "\n", os.getenv("FOO"), "\n", os.getenv("foo"))
    }
}
--- request
GET /t
--- response_body
hello
hello
nil

=== TEST 44: os.getenv in init_by_lua: an explicit env value wins over the environment
--- main_config
env PATH;
env HOME=/nowhere;
--- http_config
    init_by_lua_block {
        package.loaded.p = os.getenv("PATH") ~= nil
        package.loaded.h = os.getenv("HOME")
    }
--- config
location /t {
    content_by_lua_block {
        ngx.say(package.loaded.p, " ", os.getenv("PATH") ~= nil, " ", package.loaded.h, " ", os.getenv("HOME"))
    }
}
--- request
GET /t
--- response_body
true true /nowhere /nowhere

=== TEST 45: os.getenv of `env NAME=;` is the empty string, in init_by_lua and in workers
--- main_config
env FOO=;
--- http_config
    init_by_lua_block {
        package.loaded.foo = os.getenv("FOO")
    }
--- config
location /t {
    content_by_lua_block {
        ngx.say("in init: [", tostring(package.loaded.foo), "] in content: [", tostring(os.getenv("FOO")), "]")
    }
}
--- request
GET /t
--- response_body
in init: [] in content: []

=== TEST 46: the workers' os.getenv is the plain one again; one kept from init_by_lua still answers
--- main_config
env FOO=hello;
--- http_config
    init_by_lua_block {
        package.loaded.init_getenv = os.getenv
        local getenv = os.getenv
        package.loaded.f = function() return getenv("FOO") end
    }
--- config
location /t {
    content_by_lua_block {
        ngx.say(os.getenv ~= package.loaded.init_getenv, " ", package.loaded.f())
    }
}
--- request
GET /t
--- response_body
true hello

=== TEST 47: ngx.var names are case-insensitive, to read and to write
--- config
    location ~ '^(/t)' {
        set $foo hello;
        content_by_lua_block {
            ngx.say(ngx.var.FOO, " ", ngx.var.Uri, " ", ngx.var.HTTP_X_A, " ", ngx.var.ARG_b, " ", ngx.var[1])
            ngx.var.FOO = "changed"
            ngx.say(ngx.var.foo)
        }
    }
--- request
GET /t?b=2
--- more_headers
X-A: 1
--- response_body
hello /t 1 2 /t
changed

=== TEST 48: variable names in the configuration are case-insensitive ($Foo is $foo), as nginx
--- config
    location /t {
        set $Foo hello;
        set $bar "[$FOO]";
        content_by_lua_block {
            ngx.say(ngx.var.foo, " ", ngx.var.bar)
            ngx.var.foo = "x"
            ngx.say(ngx.var.Foo)
        }
    }
--- request
GET /t
--- response_body
hello [hello]
x

=== TEST 49: satisfy any: an allow rule grants, access_by_lua does not run
--- config
    location /test {
        satisfy any;
        allow all;
        access_by_lua 'ngx.exit(403)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- response_body
something important
--- no_error_log
[error]

=== TEST 50: satisfy any: deny and ngx.exit(403) both refuse: 403, logged at the phase's end
--- config
    location /test {
        satisfy any;
        deny all;
        access_by_lua 'ngx.exit(403)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule

=== TEST 51: satisfy any: ngx.exit(0) in access_by_lua grants despite deny
--- config
    location /test {
        satisfy any;
        deny all;
        access_by_lua 'ngx.exit(0)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- response_body
something important
--- no_error_log
[error]

=== TEST 52: satisfy any: access_by_lua returning grants despite deny
--- config
    location /test {
        satisfy any;
        deny all;
        access_by_lua 'return';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- response_body
something important
--- no_error_log
[error]

=== TEST 53: satisfy any: ngx.exit(ngx.DECLINED) grants nothing: the deny stands
--- config
    location /test {
        satisfy any;
        deny all;
        access_by_lua 'ngx.exit(ngx.DECLINED)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- error_code: 403
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule

=== TEST 54: satisfy all: an allow rule, then access_by_lua refusing: 403
--- config
    location /test {
        allow all;
        access_by_lua 'ngx.exit(403)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- error_code: 403
--- response_body_like: 403 Forbidden

=== TEST 55: ngx.exit(ngx.DECLINED) in access_by_lua: on to content
--- config
    location /test {

        access_by_lua 'ngx.exit(ngx.DECLINED)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- response_body
something important

=== TEST 56: access_by_lua_no_postpone: Lua runs before deny, and its ngx.exit(0) does not skip it
--- http_config
    access_by_lua_no_postpone on;
--- config
    location /test {
        deny all;
        access_by_lua 'ngx.log(ngx.WARN, "lua first") ngx.exit(0)';
        content_by_lua_block { ngx.say("something important") }
    }
--- request
GET /test
--- error_code: 403
--- error_log
lua first
access forbidden by rule
