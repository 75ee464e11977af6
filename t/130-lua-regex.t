# ngx.re on PCRE2: match, find, gmatch, sub, gsub, and the ngx.re module's split and opt.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: match: numbered captures, unmatched ones false, no match nil
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("hello, 1234", "([a-z]+), (\\d+)(x)?")
            ngx.say(m[0], "|", m[1], "|", m[2], "|", tostring(m[3]))
            ngx.say(ngx.re.match("hello", "\\d+"))
            local m = ngx.re.match("HELLO", "hello", "i")
            ngx.say(m[0])
            ngx.say(ngx.re.match(1234, "2(3)")[1])
        }
    }
--- request
GET /t
--- response_body
hello, 1234|hello|1234|false
nil
HELLO
3
--- no_error_log
[error]

=== TEST 2: match: named captures, and D for duplicate names
--- config
    location = /t {
        content_by_lua_block {
            local m = ngx.re.match("hello, 1234", "(?<word>[a-z]+), (?<num>\\d+)")
            ngx.say(m.word, " ", m.num, " ", m[1], " ", m[2])
            local m = ngx.re.match("ab", "(?<x>a)|(?<x>b)", "D")
            ngx.say(#m.x, " ", m.x[1])
            local m = ngx.re.match("b", "(?<x>a)|(?<x>b)", "D")
            ngx.say(#m.x, " ", m.x[1])
        }
    }
--- request
GET /t
--- response_body
hello 1234 hello 1234
1 a
1 b
--- no_error_log
[error]

=== TEST 3: match with ctx.pos, and a res table to fill
--- config
    location = /t {
        content_by_lua_block {
            local ctx = {}
            local m = ngx.re.match("1a2b3c", "\\d", "", ctx)
            ngx.say(m[0], " ", ctx.pos)
            m = ngx.re.match("1a2b3c", "\\d", "", ctx)
            ngx.say(m[0], " ", ctx.pos)
            ctx.pos = 6
            ngx.say(ngx.re.match("1a2b3c", "\\d", "", ctx), " ", ctx.pos)
            local res = {}
            local m = ngx.re.match("x9", "(\\w)(\\d)", "", nil, res)
            ngx.say(m == res, " ", res[1], res[2])
        }
    }
--- request
GET /t
--- response_body
1 2
2 4
nil 6
true x9
--- no_error_log
[error]

=== TEST 4: find: positions, nth capture, ctx
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.find("hello, 1234", "\\d+"))
            ngx.say(ngx.re.find("hello, 1234", "([a-z]+), (\\d+)", "jo", nil, 2))
            ngx.say(ngx.re.find("hello", "\\d+"))
            ngx.say(ngx.re.find("abc", "(x)?b", "", nil, 1))
            ngx.say(ngx.re.find("abc", "b", "", nil, 3))
            local ctx = { pos = 3 }
            ngx.say(ngx.re.find("abcabc", "b", "", ctx), " ", ctx.pos)
            ngx.say(ngx.re.find("abc", ""))
        }
    }
--- request
GET /t
--- response_body
811
811
nil
nilnil
nilnilnth out of bound
5 6
10
--- no_error_log
[error]

=== TEST 5: gmatch iterates, empty matches step forward
--- config
    location = /t {
        content_by_lua_block {
            for m in ngx.re.gmatch("hello, world", "([a-z]+)", "j") do
                ngx.say(m[0], " ", m[1])
            end
            local it = ngx.re.gmatch("ab", "")
            local n = 0
            while true do
                local m = it()
                if not m then break end
                n = n + 1
            end
            ngx.say("empty matches: ", n)
            local it, err = ngx.re.gmatch("x", "(")
            ngx.say(it, " ", err)
        }
    }
--- request
GET /t
--- response_body
hello hello
world world
empty matches: 3
nil pcre2_compile() failed: missing closing parenthesis in "("
--- no_error_log
[error]

=== TEST 6: sub and gsub with templates
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.sub("hello, world", "([a-z]+)", "[$1]"))
            ngx.say(ngx.re.gsub("hello, world", "([a-z]+)", "[$0:${1}]"))
            ngx.say(ngx.re.gsub("a.b.c", "\\.", "$$"))
            ngx.say(ngx.re.gsub("abc", "x", "y"))
            ngx.say(ngx.re.gsub("abc", "", "-"))
            ngx.say(ngx.re.gsub("abc", "(b)(x)?", "<$2|$1|$9>"))
            ngx.say(ngx.re.gsub("hello", "l", "L", "jo"))
            ngx.say(ngx.re.gsub(12121, "1", 3))
        }
    }
--- request
GET /t
--- response_body
[hello], world1
[hello:hello], [world:world]2
a$b$c2
abc0
-a-b-c-4
a<|b|>c1
heLLo2
323233
--- no_error_log
[error]

=== TEST 7: sub and gsub with a function
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.gsub("hello, world", "([a-z])[a-z]+", function(m) return string.upper(m[1]) end))
            ngx.say(ngx.re.sub("a1b2", "\\d", function(m) return tonumber(m[0]) * 10 end))
            ngx.say(ngx.re.gsub("ab", "", function(m) return "." end))
        }
    }
--- request
GET /t
--- response_body
H, W2
a10b21
.a.b.3
--- no_error_log
[error]

=== TEST 8: bad templates fail with OpenResty's error and log why
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.sub("abc", "b", "$"))
            ngx.say(ngx.re.sub("abc", "b", "${1"))
            ngx.say(ngx.re.sub("abc", "(?<n>b)", "$n"))
            ngx.say(ngx.re.sub("abc", "(?<n>b)", "${n}"))
        }
    }
--- request
GET /t
--- response_body
nilnilfailed to compile the replacement template
nilnilfailed to compile the replacement template
nilnilfailed to compile the replacement template
nilnilfailed to compile the replacement template
--- error_log
lua script: invalid capturing variable name found in "$"
the closing bracket in "1" variable is missing
attempt to use named capturing variable "n" (named captures not supported yet)

=== TEST 9: bad patterns and bad options
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.match("abc", "(abc"))
            ngx.say(ngx.re.find("abc", "[a"))
            ngx.say(ngx.re.sub("abc", "a)", "x"))
            ngx.say(pcall(ngx.re.match, "abc", "a", "Hm"))
        }
    }
--- request
GET /t
--- response_body
nilpcre2_compile() failed: missing closing parenthesis in "(abc"
nilnilpcre2_compile() failed: missing terminating ] for character class in "[a"
nilnilpcre2_compile() failed: unmatched closing parenthesis in "a)" at ")"
falseunknown flag "H" (flags "Hm")
--- no_error_log
[error]

=== TEST 10: options: m, s, x, a, u, d, J
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.match("a\nb", "^b$", "m")[0])
            ngx.say(ngx.re.match("a\nb", "a.b", "s")[0])
            ngx.say(ngx.re.match("ab", "a  b # comment", "x")[0])
            ngx.say(ngx.re.match("xab", "ab", "a"))
            ngx.say(ngx.re.match("héllo", "h.llo", "u")[0])
            ngx.say(ngx.re.match("abcd", "a\\w+", "d")[0])
            ngx.say(ngx.re.match("abc", "a[^]*", "J") ~= nil)
            ngx.say(ngx.re.match("\xff", ".", "u"))
            ngx.say(ngx.re.match("é", "^.$", "U")[0], " ", ngx.re.match("é", "^.$") == nil)
        }
    }
--- request
GET /t
--- response_body
b
a
b
ab
nil
héllo
abcd
true
nilpcre_exec() failed: -23
é true
--- no_error_log
[error]

=== TEST 11: ngx.re.split
--- config
    location = /t {
        content_by_lua_block {
            local split = require("ngx.re").split
            local function show(t) ngx.say(#t, ": ", table.concat(t, "|")) end
            show(split("a,b,,c", ","))
            show(split("a,b,,c,,", ","))
            show(split("a,b,c", ",", nil, nil, 2))
            show(split("a1b2c", "(\\d)"))
            show(split("abc", ""))
            show(split(",a", ","))
            local res, err = split("abc", "(")
            ngx.say(res, " ", err)
            ngx.say(pcall(split, "a", ",", nil, nil, nil, "x"))
        }
    }
--- request
GET /t
--- response_body
4: a|b||c
4: a|b||c
2: a|b,c
5: a|1|b|2|c
3: a|b|c
2: |a
nil pcre2_compile() failed: missing closing parenthesis in "("
falseres is not a table
--- no_error_log
[error]

=== TEST 12: the o cache, lua_regex_cache_max_entries and ngx.re.opt
--- http_config
    lua_regex_cache_max_entries 2;
--- config
    location = /t {
        content_by_lua_block {
            for i = 1, 5 do
                ngx.re.find("abc" .. i, "c" .. i, "jo")
            end
            local re = require "ngx.re"
            ngx.say(pcall(re.opt, "jit_stack_size", 128 * 1024))
            ngx.say(pcall(re.opt, "nope", 1))
            ngx.say(ngx.re.find("abc3", "c3", "jo"))
        }
    }
--- request
GET /t
--- response_body_like
false.*changing jit stack size is not allowed when some regexs have already been compiled and cached
false.*unrecognized option name
34
--- no_error_log
[error]

=== TEST 13: lua_regex_match_limit stops catastrophic backtracking
--- http_config
    lua_regex_match_limit 1000;
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(ngx.re.match(string.rep("a", 30) .. "!", "^(a+)+$"))
        }
    }
--- request
GET /t
--- response_body
nilpcre_exec() failed: -47
--- no_error_log
[error]

=== TEST 14: ngx.re works in init_by_lua and in every phase
--- http_config
    init_by_lua_block {
        from_init = ngx.re.gsub("a-b", "-", "+")
    }
--- config
    location = /t {
        set_by_lua_block $v { return ngx.re.sub("x1", "\\d", "2") }
        header_filter_by_lua_block { ngx.header["X-Re"] = ngx.re.match("hdr9", "\\d")[0] }
        content_by_lua_block {
            ngx.say(from_init, " ", ngx.var.v)
        }
    }
--- request
GET /t
--- response_headers
X-Re: 9
--- response_body
a+b x2
--- no_error_log
[error]

=== TEST 15: the JIT stack: 32 KiB until ngx.re.opt("jit_stack_size") gives more
--- config
    location = /t {
        content_by_lua_block {
            local s = string.rep("ab", 2000)
            ngx.say(ngx.re.match(s, [[^(?:(a)|(b))*$]], "j"))
            require("ngx.re").opt("jit_stack_size", 1024 * 1024)
            local m, err = ngx.re.match(s, [[^(?:(a)|(b))*$]], "j")
            ngx.say(#m[0], " ", err)
        }
    }
--- request
GET /t
--- response_body
nilpcre_exec() failed: -46
4000 nil
--- no_error_log
[error]
