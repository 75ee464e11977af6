# cjson and cjson.safe, built in, as OpenResty's lua-cjson (2.1.0.x) answers.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: encode, decode, their errors and settings, cjson.safe and cjson.new
(the expected text was checked case by case against lua-cjson's source; Debian's lua-cjson
2.1.0 is the older upstream: it words "NaN or Inf" and lacks the array metatables)
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local safe = require "cjson.safe"
            local function p(...) ngx.say(...) end
            local function try(f, ...) local ok, r = pcall(f, ...) p(ok, " ", tostring(r)) end
            p(cjson.encode({1, 2, 3}))
            p(cjson.encode({a = 1}))
            p(cjson.encode({}))
            p(cjson.encode("a/b\"c\\\n\1\127é"))
            p(cjson.encode(0.1), " ", cjson.encode(1e14), " ", cjson.encode(-0.0), " ", cjson.encode(123456789012345), " ", cjson.encode(1/3))
            p(cjson.encode({[1] = 1, [2] = 2, [4] = 4}))
            try(cjson.encode, {[1] = 1, [20] = 2})
            p(cjson.encode(cjson.null), " ", cjson.encode(true), " ", cjson.encode(nil))
            try(cjson.encode, print)
            try(cjson.encode, {[true] = 1})
            try(cjson.encode, 0/0)
            try(cjson.encode, math.huge)
            try(cjson.encode)
            try(cjson.encode, 1, 2)
            p(cjson.encode({[1.5] = "x"}))
            p(cjson.encode(setmetatable({}, cjson.empty_array_mt)), " ", cjson.encode(cjson.empty_array), " ", cjson.encode({cjson.empty_array}))
            p(cjson.encode(setmetatable({1, 2, x = 3}, cjson.array_mt)))
            local t = cjson.decode('{"a":[1,2,{"b":null}],"c":"\\u00e9\\ud83d\\ude00","d":true,"e":1.5e3}')
            p(t.a[1], " ", t.a[3].b == cjson.null, " ", t.c, " ", t.d, " ", t.e)
            for _, s in ipairs { '', ' ', '[1,2', '{"a" 1}', '{1:2}', '[1 2]', 'nul', '"abc', '"\\x"', '"\\u12"', '[0x10]', '[Infinity, -inf, NaN]', '[+1]', '01', '{"a":1,}', '[1,]', 'true false', '\0a', '"a\0b"', '{"a":1}}' } do
                local ok, r = pcall(cjson.decode, s)
                if ok then
                    if type(r) == "table" then p("ok table ", tostring(r[1]), " ", tostring(r[2]), " ", tostring(r[3])) else p("ok ", tostring(r)) end
                else
                    p("err ", r)
                end
            end
            p(safe.decode("[1,"))
            p(safe.encode(print))
            try(safe.decode)
            p(cjson.decode_max_depth(3))
            try(cjson.decode, "[[[[1]]]]")
            p(cjson.encode_max_depth(2))
            try(cjson.encode, {{{1}}})
            local c2 = cjson.new()
            p(c2.encode({{{1}}}))
            p(cjson.encode_number_precision(3), " ", cjson.encode(3.14159))
            try(cjson.encode_number_precision, 17)
            try(cjson.encode_number_precision, 1, 2)
            p(cjson.encode_empty_table_as_object(false), " ", cjson.encode({}))
            p(cjson.encode_sparse_array(true))
            p(cjson.encode({[1] = 1, [20] = 2}))
            p(cjson.encode_invalid_numbers("null"), " ", cjson.encode(0/0))
            p(cjson.encode_invalid_numbers(true), " ", cjson.encode(-math.huge))
            p(cjson.decode_invalid_numbers(false))
            try(cjson.decode, "[0x10]")
            try(cjson.decode, "[NaN]")
            try(cjson.encode_invalid_numbers, "maybe")
            p(cjson.decode_array_with_array_mt(true))
            local arr = cjson.decode("[]")
            p(getmetatable(arr) == cjson.array_mt, " ", cjson.encode(arr))
            p(cjson.encode_keep_buffer(false))
            p(cjson._NAME, " ", type(cjson._VERSION), " ", cjson.null == ngx.null)
            p(c2.encode({}), " ", c2.encode(0.1))
        }
    }
--- request
GET /t
--- response_body
[1,2,3]
{"a":1}
{}
"a\/b\"c\\\n\u0001\u007fé"
0.1 1e+14 -0 1.2345678901234e+14 0.33333333333333
[1,2,null,4]
false Cannot serialise table: excessively sparse array
null true null
false Cannot serialise function: type not supported
false Cannot serialise boolean: table key must be a number or string
false Cannot serialise number: must not be NaN or Infinity
false Cannot serialise number: must not be NaN or Infinity
false bad argument #1 to '?' (expected 1 argument)
false bad argument #1 to '?' (expected 1 argument)
{"1.5":"x"}
[] [] [[]]
[1,2]
1 true é😀 true 1500
err Expected value but found T_END at character 1
err Expected value but found T_END at character 2
err Expected comma or array end but found T_END at character 5
err Expected colon but found T_NUMBER at character 6
err Expected object key string but found T_NUMBER at character 2
err Expected comma or array end but found T_NUMBER at character 4
err Expected value but found invalid token at character 1
err Expected value but found unexpected end of string at character 5
err Expected value but found invalid escape code at character 2
err Expected value but found invalid unicode escape code at character 2
ok table 16 nil nil
ok table inf -inf nan
ok table 1 nil nil
ok 1
err Expected object key string but found T_OBJ_END at character 8
err Expected value but found T_ARR_END at character 4
err Expected the end but found T_BOOLEAN at character 6
err JSON parser does not support UTF-16 or UTF-32
err Expected value but found unexpected end of string at character 3
err Expected the end but found T_OBJ_END at character 8
nilExpected value but found T_END at character 4
nilCannot serialise function: type not supported
false bad argument #1 to 'decode' (expected 1 argument)
3
false Found too many nested data structures (4) at character 4
2
false Cannot serialise, excessive nesting (3)
[[[1]]]
3 3.14
false bad argument #1 to '?' (expected integer between 1 and 16)
false bad argument #2 to '?' (found too many arguments)
false []
true210
{"20":2,"1":1}
null null
true -Infinity
false
false Expected value but found invalid number at character 2
false Expected value but found invalid token at character 2
false bad argument #1 to '?' (invalid option 'maybe')
true
true []
false
cjson string true
{} 0.1
--- no_error_log
[error]

=== TEST 2: a copy of cjson on the user's package path wins over the built-in one
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- user_files
>>> cjson.lua
return { encode = function() return "user's cjson" end }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("cjson").encode({}))
            ngx.say(require("cjson.safe").encode({}))
        }
    }
--- request
GET /t
--- response_body
user's cjson
{}
--- no_error_log
[error]

=== TEST 3: settings belong to one module table: cjson.new() starts from the defaults
--- config
    location = /t {
        content_by_lua_block {
            local cjson = require "cjson"
            local other = cjson.new()
            cjson.encode_number_precision(2)
            ngx.say(cjson.encode(1.2345), " ", other.encode(1.2345))
            cjson.encode_number_precision(14)
            ngx.say(cjson.encode({ "x", { y = "z" } }))
            ngx.say(cjson.encode_escape_forward_slash(false), " ", cjson.encode("a/b"))
            cjson.encode_escape_forward_slash(true)
            local t = cjson.decode_json_null(false) and nil or cjson.decode("[1,null,3]")
            ngx.say(t[2], " ", t[3], " ", cjson.decode("[null]")[1])
            cjson.decode_json_null(true)
            ngx.say(cjson.decode("[null]")[1] == cjson.null)
        }
    }
--- request
GET /t
--- response_body
1.2 1.2345
["x",{"y":"z"}]
false "a/b"
nil 3 nil
true
--- no_error_log
[error]

=== TEST 4: cjson works in init_by_lua and in filters
--- http_config
    init_by_lua_block {
        local cjson = require "cjson"
        decoded_in_init = cjson.decode('{"k":[1,2]}').k[2]
    }
--- config
    location = /t {
        header_filter_by_lua_block { ngx.header["X-J"] = require("cjson").encode({1}) }
        content_by_lua_block { ngx.say(decoded_in_init) }
    }
--- request
GET /t
--- response_headers
X-J: [1]
--- response_body
2
--- no_error_log
[error]
