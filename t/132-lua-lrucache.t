# resty.lrucache and resty.lrucache.pureffi, bundled, as lua-resty-lrucache answers.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: set, get, delete, count, capacity; the least recently used goes first
--- config
    location = /t {
        content_by_lua_block {
            local lrucache = require "resty.lrucache"
            local c = lrucache.new(2)
            c:set("dog", 32)
            c:set("cat", 56)
            ngx.say("dog: ", c:get("dog"), " cat: ", c:get("cat"), " count: ", c:count(), "/", c:capacity())
            c:get("dog")
            c:set("bird", 1) -- cat is the least recently used
            ngx.say("cat: ", c:get("cat"), " dog: ", c:get("dog"), " bird: ", c:get("bird"))
            ngx.say(c:delete("dog"), " ", c:delete("dog"), " count: ", c:count())
            c:set("fish", { 1, 2 })
            ngx.say(c:get("fish")[2], " ", c:count())
            ngx.say(lrucache.new(0))
            c:set(1, "number key")
            ngx.say(c:get(1))
        }
    }
--- request
GET /t
--- response_body
dog: 32 cat: 56 count: 2/2
cat: nil dog: 32 bird: 1nil0
true false count: 1
2 2
nilsize too small
number keynil0
--- no_error_log
[error]

=== TEST 2: TTL: an expired item is gone but its value and flags come back as stale
--- config
    location = /t {
        content_by_lua_block {
            local c = require("resty.lrucache").new(10)
            c:set("a", "v", 0.01, 7)
            c:set("b", "w", nil, 3)
            ngx.say(c:get("a"))
            ngx.sleep(0.05)
            ngx.say(c:get("a"))
            ngx.say(c:get("b"))
            c:set("c", "x", 10, -1)
            ngx.say(c:get("c"))
        }
    }
--- request
GET /t
--- response_body
vnil7
nilv7
wnil3
xnil0
--- no_error_log
[error]

=== TEST 3: get_keys from the most recently used, flush_all
--- config
    location = /t {
        content_by_lua_block {
            local c = require("resty.lrucache").new(5)
            for _, k in ipairs { "a", "b", "c", "d" } do c:set(k, true) end
            c:get("b")
            ngx.say(table.concat(c:get_keys(), " "))
            ngx.say(table.concat(c:get_keys(2), " "))
            local res = { "x", "y", "z", "w", "v", "u" }
            c:get_keys(3, res)
            ngx.say(#res, " ", table.concat(res, " "))
            c:flush_all()
            ngx.say(c:count(), " ", #c:get_keys(), " ", c:get("a"))
            for i = 1, 7 do c:set(i, i) end
            ngx.say(c:count(), " ", table.concat(c:get_keys(), " "))
        }
    }
--- request
GET /t
--- response_body
b d c a
b d
3 b d c
0 0 nil
5 7 6 5 4 3
--- no_error_log
[error]

=== TEST 4: pureffi has the same API; the load factor is accepted
--- config
    location = /t {
        content_by_lua_block {
            local c = require("resty.lrucache.pureffi").new(3, 0.5)
            c:set("k", "v")
            ngx.say(c:get("k"), " ", c:count(), " ", c:capacity())
        }
    }
--- request
GET /t
--- response_body
v 1 3
--- no_error_log
[error]

=== TEST 5: a copy on the user's package path wins over the bundled one
--- http_config
    lua_package_path "$prefix/html/?.lua;;";
--- user_files
>>> resty/lrucache.lua
return { new = function() return "user's lrucache" end }
--- config
    location = /t {
        content_by_lua_block {
            ngx.say(require("resty.lrucache").new(1))
        }
    }
--- request
GET /t
--- response_body
user's lrucache
--- no_error_log
[error]

=== TEST 6: a cache made in init_by_lua serves requests
--- http_config
    init_by_lua_block {
        cache = require("resty.lrucache").new(10)
        cache:set("from_init", "yes")
    }
--- config
    location = /t {
        content_by_lua_block { ngx.say(cache:get("from_init")) }
    }
--- request
GET /t
--- response_body
yesnil0
--- no_error_log
[error]

=== TEST 7: a deadline set after gets were compiled still expires; flush_all forgets no deadline check
--- config
    location = /t {
        content_by_lua_block {
            local c = require("resty.lrucache").new(10)
            c:set("a", 1)
            local hits = 0
            for i = 1, 1000 do
                if c:get("a") then hits = hits + 1 end
            end
            c:set("a", 2, 0.01)
            ngx.sleep(0.05)
            local v, stale
            for i = 1, 1000 do v, stale = c:get("a") end
            ngx.say(hits, " ", v, " ", stale)
            c:flush_all()
            c:set("a", 3)
            ngx.say(c:get("a"))
            c:set("b", 4, 0.01)
            ngx.sleep(0.05)
            ngx.say(c:get("b"))
            ngx.say(c:get("a"))
        }
    }
--- request
GET /t
--- response_body
1000 nil 2
3nil0
nil40
3nil0
--- no_error_log
[error]

=== TEST 8: random sets, gets, deletes and flushes agree with an exact LRU model (order of get_keys included), in both modules
--- config
    location = /t {
        content_by_lua_block {
            local function check(modname)
                local size, keyspace = 8, 13
                local c = require(modname).new(size)
                local order, vals = {}, {}  -- the model: keys from the most recently used
                local function touch(k)
                    for i = 1, #order do
                        if order[i] == k then table.remove(order, i) break end
                    end
                    table.insert(order, 1, k)
                end
                math.randomseed(20261206)
                for step = 1, 20000 do
                    local k = "k" .. math.random(keyspace)
                    local op = math.random(100)
                    if op <= 45 then
                        local v = step
                        c:set(k, v)
                        touch(k)
                        vals[k] = v
                        if #order > size then
                            vals[table.remove(order)] = nil
                        end
                    elseif op <= 85 then
                        local got = c:get(k)
                        if vals[k] ~= nil then touch(k) end
                        if got ~= vals[k] then
                            return "step " .. step .. ": get " .. k .. " gave " .. tostring(got) .. ", model " .. tostring(vals[k])
                        end
                    elseif op <= 97 then
                        c:delete(k)
                        for i = 1, #order do
                            if order[i] == k then table.remove(order, i) break end
                        end
                        vals[k] = nil
                    else
                        c:flush_all()
                        order, vals = {}, {}
                    end
                    local keys = c:get_keys()
                    if table.concat(keys, " ") ~= table.concat(order, " ") or c:count() ~= #order then
                        return "step " .. step .. ": keys " .. table.concat(keys, " ") .. ", model " .. table.concat(order, " ")
                    end
                end
                return "ok"
            end
            ngx.say("lrucache: ", check("resty.lrucache"))
            ngx.say("pureffi: ", check("resty.lrucache.pureffi"))
        }
    }
--- request
GET /t
--- response_body
lrucache: ok
pureffi: ok
--- no_error_log
[error]
