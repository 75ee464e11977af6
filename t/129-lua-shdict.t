# ngx.shared.DICT: lua_shared_dict zones, as lua-nginx-module and lua-resty-core answer.

use Test::Nginx::Socket 'no_plan';

# (several requests in a block: every check reads the whole log)
check_accum_error_log();

run_tests();

__DATA__

=== TEST 1: set and get strings, numbers, booleans; flags only when set
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:set("s", "hello"))
            ngx.say(dogs:set("n", 3.25, 0, 7))
            ngx.say(dogs:set("b", false))
            ngx.say(dogs:set("e", ""))
            ngx.say(dogs:get("s"))
            ngx.say(dogs:get("n"))
            ngx.say(dogs:get("b"), " ", type(dogs:get("b")))
            ngx.say("[", dogs:get("e"), "]")
            ngx.say(select("#", dogs:get("s")), " ", select("#", dogs:get("n")))
            ngx.say(dogs:get("missing"))
            ngx.say(dogs.get(dogs, "s"))
            ngx.say(dogs:get(12) == nil, " ", dogs:set(12, "twelve"), " ", dogs:get("12"))
        }
    }
--- request
GET /t
--- response_body
truenilfalse
truenilfalse
truenilfalse
truenilfalse
hello
3.257
false boolean
[]
1 2
nil
hello
true true twelve
--- no_error_log
[error]

=== TEST 2: add, replace, safe_add, delete, and setting nil
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:replace("k", 1))
            ngx.say(dogs:add("k", 1))
            ngx.say(dogs:add("k", 2))
            ngx.say(dogs:safe_add("k", 2))
            ngx.say(dogs:replace("k", "two"))
            ngx.say(dogs:get("k"))
            ngx.say(dogs:add("k", nil))
            ngx.say(dogs:replace("k", nil))
            ngx.say(dogs:delete("k"))
            ngx.say(dogs:get("k"))
            ngx.say(dogs:set("k", 1))
            ngx.say(dogs:set("k", nil))
            ngx.say(dogs:get("k"))
            ngx.say(dogs:delete("never"))
        }
    }
--- request
GET /t
--- response_body
falsenot foundfalse
truenilfalse
falseexistsfalse
falseexistsfalse
truenilfalse
two
falseattempt to add or replace nil valuesfalse
falseattempt to add or replace nil valuesfalse
truenilfalse
nil
truenilfalse
truenilfalse
nil
truenilfalse
--- no_error_log
[error]

=== TEST 3: bad keys and values are answered, not raised
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:get(nil))
            ngx.say(dogs:get(""))
            ngx.say(dogs:set(nil, 1))
            ngx.say(dogs:set("", 1))
            ngx.say(dogs:set(string.rep("k", 65536), 1))
            ngx.say(dogs:get(string.rep("k", 65536)))
            ngx.say(dogs:set(string.rep("k", 65535), 1))
            ngx.say(dogs:set("t", {}))
            ngx.say(dogs:set("f", print))
            ngx.say(dogs:incr(nil, 1))
            ngx.say(dogs:ttl(""))
            ngx.say(dogs:set(true, 1), " ", dogs:get(true))
        }
    }
--- request
GET /t
--- response_body
nilnil key
nilempty key
nilnil key
nilempty key
nilkey too long
nilkey too long
truenilfalse
nilbad value type
nilbad value type
nilnil key
nilempty key
true 1
--- no_error_log
[error]

=== TEST 4: a bad zone or a bad exptime raises OpenResty's errors
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(pcall(dogs.get))
            ngx.say(pcall(dogs.get, nil, "k"))
            ngx.say(pcall(dogs.get, {}, "k"))
            ngx.say(pcall(dogs.set, "dogs", "k", 1))
            ngx.say(pcall(dogs.set, dogs, "k", 1, -1))
            ngx.say(pcall(dogs.expire, dogs, "k"))
            ngx.say(pcall(dogs.capacity))
        }
    }
--- request
GET /t
--- response_body
falsebad "zone" argument
falsebad "zone" argument
falsebad "zone" argument
falsebad "zone" argument
falsebad "exptime" argument
falsebad "exptime" argument
falsebad "zone" argument
--- no_error_log
[error]

=== TEST 5: incr, with and without init and init_ttl
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:incr("n", 1))
            ngx.say(dogs:incr("n", 1, 10))
            ngx.say(dogs:incr("n", 2.5))
            ngx.say(dogs:incr("n", "-1"))
            ngx.say(dogs:incr("n", 1, 0, 100), " ", dogs:ttl("n"))
            local m = dogs:incr("m", 1, 0, 100)
            local left = dogs:ttl("m")
            -- (a millisecond may pass between the two calls on a loaded machine)
            ngx.say(m, " ", left > 99.9 and left <= 100)
            dogs:set("s", "str")
            ngx.say(dogs:incr("s", 1))
            ngx.say(dogs:incr("s", 1, 0))
            ngx.say(pcall(dogs.incr, dogs, "n", 1, "x"))
            ngx.say(pcall(dogs.incr, dogs, "n", 1, nil, 3))
            ngx.say(pcall(dogs.incr, dogs, "n", 1, 0, -1))
            ngx.say(pcall(dogs.incr, dogs, "n", 1, 0, "y"))
        }
    }
--- request
GET /t
--- response_body
nilnot found
11nilfalse
13.5
12.5
13.5 0
1 true
nilnot a number
nilnot a number
falsebad init arg: number expected, got string
falsemust provide "init" when providing "init_ttl"
falsebad "init_ttl" argument
falsebad init_ttl arg: number expected, got string
--- no_error_log
[error]

=== TEST 6: exptime, ttl, expire, get_stale
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            dogs:set("a", "va", 0.05, 3)
            dogs:set("b", "vb")
            local ttl = dogs:ttl("a")
            ngx.say(ttl > 0.03 and ttl <= 0.05, " ", dogs:ttl("b"))
            ngx.say(dogs:ttl("none"))
            ngx.say(dogs:expire("none", 1))
            ngx.say(dogs:get_stale("a"))
            ngx.sleep(0.08)
            ngx.say(dogs:get("a"))
            ngx.say(dogs:get_stale("a"))
            ngx.say(dogs:ttl("a") < 0)
            -- (a millisecond may pass between the two calls on a loaded machine)
            local ok = dogs:expire("b", 10)
            local left = dogs:ttl("b")
            ngx.say(ok, " ", left > 9.9 and left <= 10)
            ngx.say(dogs:expire("b", 0), " ", dogs:ttl("b"))
            ngx.say(dogs:add("a", "new"), " ", dogs:get("a"))
        }
    }
--- request
GET /t
--- response_body
true 0
nilnot found
nilnot found
va3false
nil
va3true
true
true true
true 0
true new
--- no_error_log
[error]

=== TEST 7: lists: push, pop, length, and their errors
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:lpush("l", "b"), dogs:lpush("l", "a"), dogs:rpush("l", 3))
            ngx.say(dogs:llen("l"))
            ngx.say(dogs:get("l"))
            ngx.say(dogs:lpop("l"), " ", dogs:rpop("l"), " ", dogs:rpop("l"))
            ngx.say(dogs:lpop("l"), " ", dogs:llen("l"))
            dogs:set("s", 1)
            ngx.say(dogs:lpush("s", 1))
            ngx.say(dogs:rpop("s"))
            ngx.say(dogs:llen("s"))
            ngx.say(dogs:lpush("l", true))
            ngx.say(dogs:lpush("l", nil))
            ngx.say(dogs:lpush(nil, 1))
            ngx.say(pcall(dogs.lpush, dogs, "l"))
            ngx.say(pcall(dogs.lpop, dogs))
            ngx.say(dogs:rpush("big", string.rep("x", 5000)), " ", #dogs:lpop("big"))
            ngx.say(dogs:set("l2", "x"), dogs:lpush("l2", "y"))
        }
    }
--- request
GET /t
--- response_body
123
3
nilvalue is a list
a 3 b
nil 0
nilvalue not a list
nilvalue not a list
nilvalue not a list
nilbad value type
nilbad value type
nilnil key
falseexpecting 3 arguments, but only seen 2
falseexpecting 2 arguments, but only seen 1
1 5000
truenilvalue not a list
--- no_error_log
[error]

=== TEST 8: flush_all marks everything expired; flush_expired removes them
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            for i = 1, 10 do
                dogs:set("k" .. i, i)
            end
            dogs:flush_all()
            ngx.say(dogs:get_stale("k10"))
            ngx.say(dogs:get("k10"))
            ngx.say(#dogs:get_keys(0))
            ngx.say(dogs:flush_expired(2))
            ngx.say(dogs:flush_expired())
            ngx.say(dogs:flush_expired())
            ngx.say(dogs:get_stale("k10"))
        }
    }
--- request
GET /t
--- response_body
10niltrue
nil
0
2
3
0
nil
--- no_error_log
[error]

=== TEST 9: get_keys: least recently used first, 1024 by default, max 0 for all
--- http_config
    lua_shared_dict dogs 1m;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            dogs:set("a", 1)
            dogs:set("b", 2)
            dogs:set("c", 3, 0.001)
            dogs:set("d", 4)
            dogs:get("a")
            ngx.sleep(0.01)
            ngx.say(table.concat(dogs:get_keys(), " "))
            ngx.say(table.concat(dogs:get_keys(2), " "))
            for i = 1, 1500 do
                dogs:set("n" .. i, i)
            end
            ngx.say(#dogs:get_keys(), " ", #dogs:get_keys(0))
            ngx.say(pcall(dogs.get_keys, dogs, "x"))
        }
    }
--- request
GET /t
--- response_body
b d a
b d
1024 1503
falsebad argument #2 to '?' (number expected, got string)
--- no_error_log
[error]

=== TEST 10: capacity is the zone's size; free_space shrinks as items are stored
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 100k;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:capacity(), " ", ngx.shared.cats:capacity())
            local before = dogs:free_space()
            for i = 1, 100 do
                dogs:set("k" .. i, string.rep("x", 1000))
            end
            ngx.say(before > 900000, " ", dogs:free_space() < before - 90000)
        }
    }
--- request
GET /t
--- response_body
1048576 102400
true true
--- no_error_log
[error]

=== TEST 11: a full zone evicts the least recently used items (forcible), safe_set does not
(OpenResty stops after 30 evictions and may answer "no memory" to the 20000-byte set:
here any value that fits in the zone finds room)
--- http_config
    lua_shared_dict dogs 64k;
--- config
    location = /t {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            local v = string.rep("v", 500)
            local first_forcible
            for i = 1, 400 do
                local ok, err, forcible = dogs:set("k" .. i, v)
                if not ok then
                    ngx.say("failed: ", err)
                end
                if forcible and not first_forcible then
                    first_forcible = i
                end
            end
            ngx.say("evicting from: ", first_forcible ~= nil)
            ngx.say("oldest gone: ", dogs:get("k1") == nil, ", newest there: ", dogs:get("k400") ~= nil)
            ngx.say(dogs:safe_set("big", string.rep("b", 20000)))
            ngx.say(dogs:safe_add("big", string.rep("b", 20000)))
            ngx.say(dogs:set("big", string.rep("b", 20000)))
            ngx.say(#dogs:get("big"))
            ngx.say(dogs:set("huge", string.rep("h", 70000)))
        }
    }
--- request
GET /t
--- response_body
evicting from: true
oldest gone: true, newest there: true
falseno memoryfalse
falseno memoryfalse
trueniltrue
20000
falseno memoryfalse
--- log_level: info
--- error_log eval
qr/\[info\] .*ngx_slab_alloc\(\) failed: no memory in lua_shared_dict zone "dogs"/
--- no_error_log
[error]

=== TEST 12: data set in init_by_lua is seen by requests; every phase may use a dict
--- http_config
    lua_shared_dict dogs 1m;
    init_by_lua_block {
        ngx.shared.dogs:set("from_init", "yes")
        local ok, err = ngx.shared.dogs:incr("count", 1, 0)
    }
    init_worker_by_lua_block {
        ngx.shared.dogs:set("from_init_worker", "yes")
    }
--- config
    location = /t {
        set_by_lua_block $v { return ngx.shared.dogs:get("from_init") }
        rewrite_by_lua_block { ngx.shared.dogs:set("rewrite", 1) }
        access_by_lua_block { ngx.shared.dogs:set("access", 1) }
        header_filter_by_lua_block { ngx.shared.dogs:set("header_filter", 1) }
        body_filter_by_lua_block { ngx.shared.dogs:set("body_filter", 1) }
        log_by_lua_block { ngx.shared.dogs:set("log", 1) }
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(ngx.var.v, " ", dogs:get("from_init_worker"), " ", dogs:get("count"))
            ngx.say(dogs:get("rewrite"), dogs:get("access"))
        }
    }
    location = /after {
        content_by_lua_block {
            local dogs = ngx.shared.dogs
            ngx.say(dogs:get("header_filter"), dogs:get("body_filter"), dogs:get("log"))
        }
    }
--- request eval
["GET /t", "GET /after"]
--- response_body eval
["yes yes 1\n11\n", "111\n"]
--- no_error_log
[error]

=== TEST 13: resty.core.shdict requires cleanly and changes nothing; unknown dicts are nil
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict cats 1m;
--- config
    location = /t {
        content_by_lua_block {
            require "resty.core.shdict"
            require "resty.core"
            local dogs = ngx.shared.dogs
            dogs:set("k", "v")
            ngx.say(dogs:get("k"), " ", ngx.shared.cats:get("k"), " ", ngx.shared.birds)
            ngx.say(getmetatable(dogs) == getmetatable(ngx.shared.cats))
        }
    }
--- request
GET /t
--- response_body
v nil nil
true
--- no_error_log
[error]

=== TEST 14: lua_shared_dict needs a size of 8k or more
--- http_config
    lua_shared_dict dogs 8191;
--- config
--- must_die
--- error_log
invalid lua shared dict size "8191"

=== TEST 15: lua_shared_dict with a size that is not one
--- http_config
    lua_shared_dict dogs 12x;
--- config
--- must_die
--- error_log
invalid lua shared dict size "12x"

=== TEST 16: lua_shared_dict with an empty name
--- http_config
    lua_shared_dict "" 1m;
--- config
--- must_die
--- error_log
invalid lua shared dict name ""

=== TEST 17: lua_shared_dict declared twice
--- http_config
    lua_shared_dict dogs 1m;
    lua_shared_dict dogs 1m;
--- config
--- must_die
--- error_log
lua_shared_dict "dogs" is already defined as "dogs"

=== TEST 18: lua_shared_dict outside http
--- config
    location = /t {
        lua_shared_dict dogs 1m;
    }
--- must_die
--- error_log
"lua_shared_dict" directive is not allowed here
