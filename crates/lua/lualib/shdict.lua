-- ngx.shared.DICT: the methods of every shared dict, over the FFI entry points of
-- src/api/shdict.rs. Arguments, results and error texts follow lua-resty-core's
-- shdict (and lua-nginx-module's C functions for the list and key methods).
local ffi = require "ffi"
local C = ffi.C
local ffi_string = ffi.string
local type, tostring, tonumber, error, select = type, tostring, tonumber, error, select
local setmetatable = setmetatable

ffi.cdef[[
int oxr_shdict_get(void *zone, const unsigned char *key, size_t klen, int stale,
    int *vtype, const unsigned char **buf, size_t *len, double *num, int *flags,
    int *is_stale, const char **err);
int oxr_shdict_store(void *zone, int op, const unsigned char *key, size_t klen,
    int vtype, const unsigned char *s, size_t slen, double num, double exptime_ms,
    int flags, int *forcible, const char **err);
int oxr_shdict_incr(void *zone, const unsigned char *key, size_t klen, double *value,
    int has_init, double init, double init_ttl_ms, int *forcible, const char **err);
int64_t oxr_shdict_push(void *zone, const unsigned char *key, size_t klen, int left,
    int vtype, const unsigned char *s, size_t slen, double num, const char **err);
int oxr_shdict_pop(void *zone, const unsigned char *key, size_t klen, int left,
    int *vtype, const unsigned char **buf, size_t *len, double *num, const char **err);
int64_t oxr_shdict_llen(void *zone, const unsigned char *key, size_t klen, const char **err);
int64_t oxr_shdict_ttl(void *zone, const unsigned char *key, size_t klen, int *found);
int oxr_shdict_expire(void *zone, const unsigned char *key, size_t klen, double exptime_ms);
void oxr_shdict_flush_all(void *zone);
int64_t oxr_shdict_flush_expired(void *zone, int64_t max);
size_t oxr_shdict_capacity(void *zone);
size_t oxr_shdict_free_space(void *zone);
]]
local shdict_get = C.oxr_shdict_get
local shdict_store = C.oxr_shdict_store
local shdict_incr = C.oxr_shdict_incr
local shdict_push = C.oxr_shdict_push
local shdict_pop = C.oxr_shdict_pop
local shdict_llen = C.oxr_shdict_llen
local shdict_ttl = C.oxr_shdict_ttl
local shdict_expire = C.oxr_shdict_expire
local shdict_keys = __oxr.shdict_keys

local vtype = ffi.new "int[1]"
local flags = ffi.new "int[1]"
local is_stale = ffi.new "int[1]"
local forcible = ffi.new "int[1]"
local found = ffi.new "int[1]"
local num = ffi.new "double[1]"
local sbuf = ffi.new "const unsigned char *[1]"
local slen = ffi.new "size_t[1]"
local errp = ffi.new "const char *[1]"

-- the zones declared by lua_shared_dict, by dict table: their addresses as cdata (the
-- JIT cannot pass a light userdata to a pointer argument); only these reach the FFI.
-- `dict[1]` keeps the light userdata, as in OpenResty.
local zone_of = setmetatable({}, { __mode = "k" })
local mt = {}
mt.__index = mt

function __oxr.shdict_register(name, zone)
    local dict = setmetatable({ zone }, mt)
    zone_of[dict] = ffi.cast("void *", zone)
    ngx.shared[name] = dict
end

local function check_zone(dict, level)
    local zone = zone_of[dict]
    if zone == nil then
        error('bad "zone" argument', level or 3)
    end
    return zone
end

-- the key as a string, or nil and OpenResty's complaint
local function check_key(key)
    if key == nil then
        return nil, "nil key"
    end
    if type(key) ~= "string" then
        key = tostring(key)
    end
    local n = #key
    if n == 0 then
        return nil, "empty key"
    end
    if n > 65535 then
        return nil, "key too long"
    end
    return key
end

-- a found value from the out-parameters
local function value_of(t)
    if t == 4 then
        return ffi_string(sbuf[0], slen[0])
    elseif t == 3 then
        return tonumber(num[0])
    end
    return num[0] ~= 0
end

local function get(dict, key, stale)
    local zone = check_zone(dict)
    local k, err = check_key(key)
    if not k then
        return nil, err
    end
    if shdict_get(zone, k, #k, stale, vtype, sbuf, slen, num, flags, is_stale, errp) ~= 0 then
        return nil, ffi_string(errp[0])
    end
    local t = vtype[0]
    if t == 0 then
        return nil
    end
    local f = flags[0]
    if stale == 1 then
        return value_of(t), f ~= 0 and f or nil, is_stale[0] == 1
    end
    if f ~= 0 then
        return value_of(t), f
    end
    return value_of(t)
end

function mt.get(dict, key)
    return get(dict, key, 0)
end

function mt.get_stale(dict, key)
    return get(dict, key, 1)
end

-- a value as the FFI calls take it: Lua's type number, a string and its length, a
-- number (booleans as 0/1); nil for a type a dict cannot hold
local function wire_value(value)
    local t = type(value)
    if t == "string" then
        return 4, value, #value, 0
    elseif t == "number" then
        return 3, nil, 0, value
    elseif value == nil then
        return 0, nil, 0, 0
    elseif t == "boolean" then
        return 1, nil, 0, value and 1 or 0
    end
end

local OP_ADD, OP_REPLACE, OP_SAFE = 1, 2, 4

local function store(dict, op, key, value, exptime, user_flags)
    local zone = check_zone(dict)
    if not exptime then
        exptime = 0
    elseif exptime < 0 then
        error('bad "exptime" argument', 2)
    end
    local k, err = check_key(key)
    if not k then
        return nil, err
    end
    local t, s, len, n = wire_value(value)
    if not t then
        return nil, "bad value type"
    end
    if shdict_store(zone, op, k, #k, t, s, len, n, exptime * 1000, user_flags or 0, forcible, errp) == 0 then
        return true, nil, forcible[0] == 1
    end
    return false, ffi_string(errp[0]), forcible[0] == 1
end

function mt.set(dict, key, value, exptime, user_flags)
    return store(dict, 0, key, value, exptime, user_flags)
end

function mt.safe_set(dict, key, value, exptime, user_flags)
    return store(dict, OP_SAFE, key, value, exptime, user_flags)
end

function mt.add(dict, key, value, exptime, user_flags)
    return store(dict, OP_ADD, key, value, exptime, user_flags)
end

function mt.safe_add(dict, key, value, exptime, user_flags)
    return store(dict, OP_ADD + OP_SAFE, key, value, exptime, user_flags)
end

function mt.replace(dict, key, value, exptime, user_flags)
    return store(dict, OP_REPLACE, key, value, exptime, user_flags)
end

function mt.delete(dict, key)
    return store(dict, 0, key, nil)
end

function mt.incr(dict, key, value, init, init_ttl)
    local zone = check_zone(dict)
    local k, err = check_key(key)
    if not k then
        return nil, err
    end
    if type(value) ~= "number" then
        value = tonumber(value)
    end
    num[0] = value
    if init then
        local t = type(init)
        if t ~= "number" then
            init = tonumber(init)
            if not init then
                error("bad init arg: number expected, got " .. t, 2)
            end
        end
    end
    if init_ttl ~= nil then
        local t = type(init_ttl)
        if t ~= "number" then
            init_ttl = tonumber(init_ttl)
            if not init_ttl then
                error("bad init_ttl arg: number expected, got " .. t, 2)
            end
        end
        if init_ttl < 0 then
            error('bad "init_ttl" argument', 2)
        end
        if not init then
            error('must provide "init" when providing "init_ttl"', 2)
        end
    else
        init_ttl = 0
    end
    if shdict_incr(zone, k, #k, num, init and 1 or 0, init or 0, init_ttl * 1000, forcible, errp) ~= 0 then
        return nil, ffi_string(errp[0])
    end
    if not init then
        return tonumber(num[0])
    end
    return tonumber(num[0]), nil, forcible[0] == 1
end

function mt.ttl(dict, key)
    local zone = check_zone(dict)
    local k, err = check_key(key)
    if not k then
        return nil, err
    end
    local ms = shdict_ttl(zone, k, #k, found)
    if found[0] == 0 then
        return nil, "not found"
    end
    return tonumber(ms) / 1000
end

function mt.expire(dict, key, exptime)
    local zone = check_zone(dict)
    if not exptime then
        error('bad "exptime" argument', 2)
    end
    local k, err = check_key(key)
    if not k then
        return nil, err
    end
    -- (a negative exptime, as 0, removes the deadline: lua-resty-core does the same)
    if shdict_expire(zone, k, #k, exptime * 1000) == 0 then
        return nil, "not found"
    end
    return true
end

function mt.flush_all(dict)
    C.oxr_shdict_flush_all(check_zone(dict))
end

function mt.capacity(dict)
    return tonumber(C.oxr_shdict_capacity(check_zone(dict)))
end

function mt.free_space(dict)
    return tonumber(C.oxr_shdict_free_space(check_zone(dict)))
end

-- the list methods and flush_expired / get_keys are classic C functions in
-- lua-nginx-module: their argument-count messages are kept. `level` points errors at the
-- user's call (3 from a method, 4 from a helper of one)
local function argc(expect, got, many, level)
    if got ~= expect and not (many and got == expect + 1) then
        if many then
            error(("expecting %d or %d argument(s), but saw %d"):format(expect, expect + 1, got), level or 3)
        end
        error(("expecting %d arguments, but only seen %d"):format(expect, got), level or 3)
    end
end

-- a list method's zone and key, checked as lua-nginx-module checks them (the key: nil
-- and the complaint for a nil or empty one)
local function list_target(expect, got, dict, key)
    argc(expect, got, false, 4)
    local zone = check_zone(dict, 4)
    if key == nil then
        return zone, nil, "nil key"
    end
    local t = type(key)
    if t ~= "string" and t ~= "number" then
        error(("bad argument #2 to '?' (string expected, got %s)"):format(t), 4)
    end
    return zone, check_key(key)
end

local function push(left, ...)
    local zone, k, err = list_target(3, select("#", ...), ...)
    if not k then
        return nil, err
    end
    local t, s, len, n = wire_value(select(3, ...))
    if t ~= 3 and t ~= 4 then
        return nil, "bad value type"
    end
    local r = shdict_push(zone, k, #k, left, t, s, len, n, errp)
    if r < 0 then
        return nil, ffi_string(errp[0])
    end
    return tonumber(r)
end

function mt.lpush(...)
    return push(1, ...)
end

function mt.rpush(...)
    return push(0, ...)
end

local function pop(left, ...)
    local zone, k, err = list_target(2, select("#", ...), ...)
    if not k then
        return nil, err
    end
    if shdict_pop(zone, k, #k, left, vtype, sbuf, slen, num, errp) ~= 0 then
        return nil, ffi_string(errp[0])
    end
    local t = vtype[0]
    if t == 0 then
        return nil
    end
    return value_of(t)
end

function mt.lpop(...)
    return pop(1, ...)
end

function mt.rpop(...)
    return pop(0, ...)
end

function mt.llen(...)
    local zone, k, err = list_target(2, select("#", ...), ...)
    if not k then
        return nil, err
    end
    local n = shdict_llen(zone, k, #k, errp)
    if n < 0 then
        return nil, ffi_string(errp[0])
    end
    return tonumber(n)
end

local function count_arg(v)
    local n = tonumber(v)
    if not n then
        -- (as luaL_checkint words it for a method called through pcall)
        error(("bad argument #2 to '?' (number expected, got %s)"):format(type(v)), 3)
    end
    return n
end

function mt.flush_expired(...)
    argc(1, select("#", ...), true)
    local dict, max = ...
    local zone = check_zone(dict)
    max = max ~= nil and count_arg(max) or 0
    return tonumber(C.oxr_shdict_flush_expired(zone, max))
end

function mt.get_keys(...)
    argc(1, select("#", ...), true)
    local dict, max = ...
    check_zone(dict)
    max = max ~= nil and count_arg(max) or 1024
    return shdict_keys(dict[1], max)
end
