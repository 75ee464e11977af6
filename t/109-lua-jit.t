# The FFI-first API keeps hot loops JIT-compiled; jit.v and friends ship with the binary.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

# (traces of jit.v's own callback, once it is hot, are the tool's, not the API's)
__DATA__

=== TEST 1: a hot loop over the hot APIs compiles, with no NYI abort from them
--- config
    location = /t {
        content_by_lua_block {
            local v = require "jit.v"
            local log = ngx.config.prefix() .. "logs/jitv.log"
            v.on(log)
            local s = 0
            for i = 1, 3000 do
                s = s + #ngx.md5("x") + #ngx.sha1_bin("y") + #ngx.encode_base64("abc") + #ngx.escape_uri("a b") + #ngx.unescape_uri("a%20b") + ngx.crc32_short("x") % 7 + ngx.now() % 1 + ngx.time() % 1 + #ngx.var.uri + #ngx.var.http_host + #ngx.req.get_headers().host
                ngx.ctx.n = i
                ngx.header["X-Loop"] = "1"
            end
            v.off()
            local f = io.open(log)
            local report = f:read("*a")
            f:close()
            local loop = report:match("%[TRACE%s+%d+ content_by_lua%(nginx%.conf:%d+%):%d+ loop%]") ~= nil
            local bad = {}
            for line in report:gmatch("[^\n]+") do
                if ((line:find("NYI") and not line:find("return to lower frame", 1, true)) or line:find("stitch")) and not line:find("jit/v.lua", 1, true) then
                    bad[#bad + 1] = line
                end
            end
            ngx.say("loop traced: ", loop)
            ngx.say("NYI aborts or stitches: ", #bad == 0 and "none" or table.concat(bad, " | "))
        }
    }
--- request
GET /t
--- response_body
loop traced: true
NYI aborts or stitches: none

=== TEST 1b: a hot loop over ngx.shared.DICT compiles, with no NYI abort from it
--- http_config
    lua_shared_dict d 1m;
--- config
    location = /t {
        content_by_lua_block {
            local v = require "jit.v"
            local log = ngx.config.prefix() .. "logs/jitv.log"
            v.on(log)
            local d = ngx.shared.d
            local s = 0
            for i = 1, 3000 do
                local n = d:incr("k", 1, 0)
                d:set("x" .. (n % 100), n)
                s = s + d:get("x" .. (n % 100)) + #(d:get("s") or "")
                d:set("s", "str")
            end
            v.off()
            local f = io.open(log)
            local report = f:read("*a")
            f:close()
            local loop = report:match("%[TRACE%s+%d+ content_by_lua%(nginx%.conf:%d+%):%d+ loop%]") ~= nil
            local bad = {}
            for line in report:gmatch("[^\n]+") do
                if ((line:find("NYI") and not line:find("return to lower frame", 1, true)) or line:find("stitch")) and not line:find("jit/v.lua", 1, true) then
                    bad[#bad + 1] = line
                end
            end
            ngx.say("loop traced: ", loop, " ", s)
            ngx.say("NYI aborts or stitches: ", #bad == 0 and "none" or table.concat(bad, " | "))
        }
    }
--- request
GET /t
--- response_body
loop traced: true 4510497
NYI aborts or stitches: none

=== TEST 1c: a hot loop over ngx.re compiles, with no NYI abort from it
--- config
    location = /t {
        content_by_lua_block {
            local v = require "jit.v"
            local log = ngx.config.prefix() .. "logs/jitv.log"
            v.on(log)
            local s = 0
            for i = 1, 3000 do
                local from, to = ngx.re.find("abc 123 def", [[\d+]], "jo")
                local m = ngx.re.match("key=value", [[(\w+)=(\w+)]], "jo")
                local r = ngx.re.gsub("a b c", " ", "-", "jo")
                s = s + from + to + #m[2] + #r
            end
            v.off()
            local f = io.open(log)
            local report = f:read("*a")
            f:close()
            -- (the loop is a trace of its own, or one linked to gsub's inner loop's trace when
            -- that got hot first: either way compiled)
            local loop = report:match("%[TRACE%s+%d+ content_by_lua%(nginx%.conf:%d+%):%d+ loop%]") ~= nil
                or report:match("%[TRACE%s+%d+ content_by_lua%(nginx%.conf:%d+%):%d+ %-> %d+%]") ~= nil
            local bad = {}
            for line in report:gmatch("[^\n]+") do
                if ((line:find("NYI") and not line:find("return to lower frame", 1, true)) or line:find("stitch")) and not line:find("jit/v.lua", 1, true) then
                    bad[#bad + 1] = line
                end
            end
            ngx.say("loop traced: ", loop, " ", s)
            ngx.say("NYI aborts or stitches: ", #bad == 0 and "none" or table.concat(bad, " | "))
        }
    }
--- request
GET /t
--- response_body
loop traced: true 66000
NYI aborts or stitches: none

=== TEST 1d: hot loops over resty.lrucache (no NYI, no stitch) and cjson (C functions, as lua-cjson: stitched, no NYI)
--- config
    location = /t {
        content_by_lua_block {
            local v = require "jit.v"
            local function report_of(f)
                local log = ngx.config.prefix() .. "logs/jitv.log"
                os.remove(log)
                v.on(log)
                local s = f()
                v.off()
                local fh = io.open(log)
                local report = fh:read("*a")
                fh:close()
                return report, s
            end
            local c = require("resty.lrucache").new(100)
            local report, s = report_of(function()
                local s = 0
                for i = 1, 3000 do
                    c:set("k" .. (i % 50), i)
                    s = s + (c:get("k" .. (i % 50)) or 0)
                end
                return s
            end)
            local nyi = report:find("NYI") and not report:find("return to lower frame", 1, true)
            ngx.say("lrucache: ", s, " NYI: ", nyi and "yes" or "none", " stitch: ", report:find("stitch") and "yes" or "none")
            local cjson = require "cjson"
            report, s = report_of(function()
                local s = 0
                for i = 1, 3000 do
                    s = s + cjson.decode(cjson.encode({ n = i })).n
                end
                return s
            end)
            ngx.say("cjson: ", s, " NYI: ", report:find("NYI") and "yes" or "none")
        }
    }
--- request
GET /t
--- response_body
lrucache: 4501500 NYI: none stitch: none
cjson: 4501500 NYI: none

=== TEST 2: jit.dump, jit.util, jit.p, string.buffer are there
--- config
    location = /t {
        content_by_lua_block {
            local dump = require "jit.dump"
            local util = require "jit.util"
            local p = require "jit.p"
            local buf = require "string.buffer"
            local b = buf.new()
            b:put("a", 1)
            ngx.say(type(dump.on), " ", type(util.funcinfo), " ", type(p.start), " ", b:tostring())
        }
    }
--- request
GET /t
--- response_body
function function function a1

=== TEST 3: output from compiled code runs a Lua header filter (many requests: the content code gets compiled)
--- config
    location = /t {
        header_filter_by_lua_block { ngx.header["X-Filtered"] = "yes" }
        content_by_lua_block {
            local n = (ngx.ctx.n or 0) + 1
            ngx.say("a", n, "b", "c")
        }
    }
--- pipelined_requests eval
[("GET /t") x 300]
--- response_body eval
[
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n",
"a1bc\n"]
--- response_headers eval
[
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"",
"X-Filtered: yes\n"]

=== TEST 4: a hot loop of output through a Lua body filter
--- config
    location = /t {
        body_filter_by_lua_block { ngx.arg[1] = string.upper(ngx.arg[1]) }
        content_by_lua_block {
            for i = 1, 1000 do
                ngx.say("ab", "c")
                ngx.print("d")
            end
        }
    }
--- request
GET /t
--- response_body eval
"ABC\nD" x 1000

=== TEST 5: request code runs as a function, as OpenResty's closure factory makes it
--- config
    location = /t {
        content_by_lua_block {
            local x = nil
            x.y = 1
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log eval
[qr/^coroutine 0:$/, qr/^\tcontent_by_lua\(nginx\.conf:\d+\)(:3)?: in function <content_by_lua\(nginx\.conf:\d+\):1>, client/]

=== TEST 6: top-level `...` is refused in request code, as in OpenResty
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(select("#", ...))
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
cannot use '...' outside a vararg function

=== TEST 7: an error value that is not a string is "unknown reason", as OpenResty reports it
--- config
    location = /t {
        content_by_lua_block {
            error(setmetatable({}, { __tostring = function() return "my error object" end }))
        }
    }
--- request
GET /t
--- error_code: 500
--- error_log
lua entry thread aborted: runtime error: unknown reason
