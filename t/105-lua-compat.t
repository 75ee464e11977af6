# Package paths, built-in modules, OpenResty's table extensions.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: lua_package_path with $prefix and ;;
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local m = require "mymod"
            ngx.say(m.hello(), " ", package.path:find(";;", 1, true) == nil)
        }
    }
--- user_files
>>> mymod.lua
return { hello = function() return "from mymod" end }
--- request
GET /t
--- response_body
from mymod true

=== TEST 2: a missing module is a clear error
--- config
    location = /t {
        content_by_lua_block { require "no.such.module" }
    }
--- request
GET /t
--- error_code: 500
--- error_log
module 'no.such.module' not found

=== TEST 3: resty.core and its parts load and change nothing
--- config
    location = /t {
        content_by_lua_block {
            require "resty.core"
            local base = require "resty.core.base"
            require "resty.core.regex"
            require "resty.core.shdict"
            ngx.say(type(base.new_tab), " ", base.FFI_OK, " ", ngx.md5("a"))
        }
    }
--- request
GET /t
--- response_body
function 0 0cc175b9c0f1b6a831c399e269772661

=== TEST 4: built-in modules win over files of the same name on the path
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- config
    location = /t {
        content_by_lua_block {
            local core = require "resty.core"
            ngx.say(core.version ~= "fake")
        }
    }
--- user_files
>>> resty/core.lua
return { version = "fake" }
--- request
GET /t
--- response_body
true

=== TEST 5: table extensions
--- config
    location = /t {
        content_by_lua_block {
            local t = table.new(4, 2)
            t[1], t[2], t.x = "a", "b", 1
            ngx.say(table.nkeys(t), " ", table.isarray(t), " ", table.isempty({}), " ", table.isarray({1, 2}))
            local c = table.clone(t)
            table.clear(t)
            ngx.say(table.nkeys(t), " ", c.x, " ", c[2])
            ngx.say(require("table.nkeys")({a = 1}), " ", type(require("table.new")))
        }
    }
--- request
GET /t
--- response_body
3 false true true
0 1 b
1 function
