-- OpenResty's LuaJIT table extensions and the modules oxiresty provides built in, so
-- that code written for OpenResty (and lua-resty-core users) loads unchanged.
local preload = package.preload

local new_tab = require "table.new"
local clear_tab = require "table.clear"

local function nkeys(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
end

local function isempty(t)
    return next(t) == nil
end

local function isarray(t)
    if type(t) ~= "table" then return false end
    local n = #t
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
    end
    return true
end

local function clone(t)
    local c = new_tab(#t, 0)
    for k, v in pairs(t) do c[k] = v end
    return c
end

table.new, table.clear, table.nkeys = new_tab, clear_tab, nkeys
table.isempty, table.isarray, table.clone = isempty, isarray, clone
preload["table.nkeys"] = function() return nkeys end
preload["table.isempty"] = function() return isempty end
preload["table.isarray"] = function() return isarray end
preload["table.clone"] = function() return clone end

-- lua-resty-core: its API is oxiresty's own; requiring it (or any of its parts) works and
-- changes nothing, whatever lua-resty-core sits on the package path. resty.core.base
-- keeps the helpers other libraries use (string buffers, get_request, the FFI codes).
local ffi = require "ffi"
for _, decl in ipairs {
    { "ngx_str_t", "typedef struct { size_t len; const unsigned char *data; } ngx_str_t;" },
    { "ngx_http_request_t", "typedef struct ngx_http_request_s ngx_http_request_t;" },
    { "ngx_http_lua_ffi_str_t", "typedef struct { int len; const unsigned char *data; } ngx_http_lua_ffi_str_t;" },
} do
    if not pcall(ffi.typeof, decl[1]) then
        ffi.cdef(decl[2])
    end
end
ffi.cdef "ngx_http_request_t *oxr_get_request(void);"

local core = { version = "0.1.28" }
local base = {
    version = core.version,
    FFI_OK = 0, FFI_NO_REQ_CTX = -100, FFI_BAD_CONTEXT = -101, FFI_ERROR = -1,
    FFI_AGAIN = -2, FFI_BUSY = -3, FFI_DONE = -4, FFI_DECLINED = -5,
    new_tab = new_tab, clear_tab = clear_tab,
}
do
    local C, ffi_new = ffi.C, ffi.new
    local char_array = ffi.typeof "char[?]"
    local buf_size, buf, size_ptr, errmsg_ptr = 4096, nil, nil, nil

    function base.get_request()
        local r = C.oxr_get_request()
        if r ~= nil then
            return r
        end
    end

    -- one shared scratch buffer, as lua-resty-core's: valid until the next call
    function base.get_string_buf(size, must_alloc)
        if must_alloc or size > buf_size then
            return ffi_new(char_array, size)
        end
        buf = buf or ffi_new(char_array, buf_size)
        return buf
    end

    function base.get_string_buf_size()
        return buf_size
    end

    function base.set_string_buf_size(size)
        if size > 0 then
            buf_size, buf = math.ceil(size), nil
        end
    end

    function base.get_size_ptr()
        size_ptr = size_ptr or ffi_new "size_t[1]"
        return size_ptr
    end

    function base.get_errmsg_ptr()
        errmsg_ptr = errmsg_ptr or ffi_new "char *[1]"
        return errmsg_ptr
    end

    -- stores `key` in the array part of `tb`, reusing freed slots (chained from tb[0])
    function base.ref_in_table(tb, key)
        if key == nil then
            return -1
        end
        local ref = tb[0]
        if ref and ref ~= 0 then
            tb[0] = tb[ref]
        else
            ref = #tb + 1
        end
        tb[ref] = key
        return ref
    end

    function base.allows_subsystem(...)
        for i = 1, select("#", ...) do
            if select(i, ...) == "http" then
                return
            end
        end
        error("unsupported subsystem: http", 2)
    end
end
preload["resty.core"] = function() return core end
preload["resty.core.base"] = function() return base end
for _, name in ipairs {
    "var", "ctx", "request", "response", "time", "hash", "base64", "uri", "exit", "worker",
    "phase", "ndk", "misc", "regex", "shdict", "socket", "utils", "coroutine", "param",
} do
    preload["resty.core." .. name] = function() return {} end
end

-- Libraries OpenResty bundles (cjson, cjson.safe, resty.lrucache): found after the user's package
-- paths, so that a copy the user puts there wins, as with OpenResty's own lualib
local cjson_new = __oxr.cjson_new
local function cjson_safe_new()
    local m = cjson_new()
    for _, name in ipairs { "encode", "decode" } do
        local f = m[name]
        m[name] = function(...)
            if select("#", ...) ~= 1 then
                error(("bad argument #1 to '%s' (expected 1 argument)"):format(name), 2)
            end
            local ok, r = pcall(f, ...)
            if ok then
                return r
            end
            return nil, r
        end
    end
    m.new = cjson_safe_new
    return m
end
local lrucache_source = __oxr.lrucache_source
local function lrucache()
    return assert(loadstring(lrucache_source, "=resty.lrucache"))()
end
local bundled = {
    cjson = cjson_new,
    ["cjson.safe"] = cjson_safe_new,
    ["resty.lrucache"] = lrucache,
    ["resty.lrucache.pureffi"] = lrucache,
}
package.loaders[#package.loaders + 1] = function(name)
    local make = bundled[name]
    if make then
        return make
    end
    return "\n\tno module '" .. name .. "' bundled with oxiresty"
end

-- `require "ngx"` gives the ngx table, as in OpenResty
package.loaded.ngx = ngx

-- lua_code_cache off: modules loaded by a request are forgotten before the next one,
-- so that edited module files are read again (built-in modules stay)
local builtin_modules = {}
for name in pairs(package.loaded) do
    builtin_modules[name] = true
end
function __oxr.forget_modules()
    for name in pairs(package.loaded) do
        if not builtin_modules[name] then
            package.loaded[name] = nil
        end
    end
end

-- ... and a Lua module runs with the global table of the request that required it (as
-- in OpenResty, where such a request has a VM of its own), so its globals go with it
local lua_searcher = package.loaders[2]
local getfenv, setfenv, getmetatable = getfenv, setfenv, getmetatable
local function request_globals()
    -- the nearest caller running with a request's globals (they are marked)
    for level = 3, 12 do
        local ok, env = pcall(getfenv, level)
        if not ok then
            return nil
        end
        local mt = type(env) == "table" and getmetatable(env)
        if mt and mt.oxr_request_globals then
            return env
        end
    end
end
package.loaders[2] = function(name)
    local loader, where = lua_searcher(name)
    if type(loader) == "function" then
        local env = request_globals()
        if env then
            setfenv(loader, env)
        end
    end
    return loader, where
end
