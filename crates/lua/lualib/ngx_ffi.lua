-- ngx.* functions implemented in Rust and called through LuaJIT's FFI, so that traces
-- compile through them (the lua-resty-core lesson). Buffers are reused, globals cached.
local ffi = require "ffi"
local C = ffi.C
local ffi_string = ffi.string
local type, tostring, error = type, tostring, error

ffi.cdef[[
void oxr_md5_hex(const unsigned char *s, size_t len, unsigned char *out);
void oxr_md5_bin(const unsigned char *s, size_t len, unsigned char *out);
void oxr_sha1_bin(const unsigned char *s, size_t len, unsigned char *out);
void oxr_hmac_sha1(const unsigned char *key, size_t key_len, const unsigned char *s, size_t len, unsigned char *out);
uint32_t oxr_crc32(const unsigned char *s, size_t len);
size_t oxr_base64_encoded_len(size_t len, int no_padding);
size_t oxr_encode_base64(const unsigned char *s, size_t len, unsigned char *out, int no_padding, int url);
intptr_t oxr_decode_base64(const unsigned char *s, size_t len, unsigned char *out, int url);
size_t oxr_escape_uri_len(const unsigned char *s, size_t len, int whole);
size_t oxr_escape_uri(const unsigned char *s, size_t len, unsigned char *out, int whole);
size_t oxr_unescape_uri(const unsigned char *s, size_t len, unsigned char *out);
size_t oxr_quote_sql_len(const unsigned char *s, size_t len);
size_t oxr_quote_sql(const unsigned char *s, size_t len, unsigned char *out);
double oxr_now(void);
int64_t oxr_time(void);
]]
-- the functions themselves, looked up once: an interpreted `C.name(...)` pays a
-- namespace lookup on every call
local oxr_md5_hex = C.oxr_md5_hex
local oxr_md5_bin = C.oxr_md5_bin
local oxr_sha1_bin = C.oxr_sha1_bin
local oxr_hmac_sha1 = C.oxr_hmac_sha1
local oxr_crc32 = C.oxr_crc32
local oxr_base64_encoded_len = C.oxr_base64_encoded_len
local oxr_encode_base64 = C.oxr_encode_base64
local oxr_decode_base64 = C.oxr_decode_base64
local oxr_escape_uri_len = C.oxr_escape_uri_len
local oxr_escape_uri = C.oxr_escape_uri
local oxr_unescape_uri = C.oxr_unescape_uri
local oxr_quote_sql_len = C.oxr_quote_sql_len
local oxr_quote_sql = C.oxr_quote_sql
local oxr_now = C.oxr_now
local oxr_time = C.oxr_time

local digest = ffi.new("unsigned char[32]")

-- a growable scratch buffer shared by the variable-length encoders
local scratch, scratch_len = ffi.new("unsigned char[4096]"), 4096
local function buffer(n)
    if n > scratch_len then
        scratch_len = n
        scratch = ffi.new("unsigned char[?]", n)
    end
    return scratch
end

-- init_worker_by_lua and exit_worker_by_lua run in OpenResty with a context of their own
-- (a fake request): there request APIs are "disabled in the current context" and the
-- output ones "in the context of init_worker_by_lua*"; in init_by_lua there is no request
local get_phase = ngx.get_phase
local function worker_phase()
    local phase = get_phase()
    if phase == "init_worker" or phase == "exit_worker" then
        return phase
    end
end
local function no_request(level, output)
    local phase = worker_phase()
    if not phase then
        error("no request found", level + 1)
    elseif output then
        error("API disabled in the context of " .. phase .. "_by_lua*", level + 1)
    end
    error("API disabled in the current context", level + 1)
end

-- lua-resty-core's argument rule: nil and false are "", other values their text
local function str(s)
    if type(s) ~= "string" then
        if not s then return "" end
        return tostring(s)
    end
    return s
end

local function need_string(s, n, fname)
    if type(s) ~= "string" then
        if type(s) == "number" then return tostring(s) end
        error("bad argument #" .. n .. " to '" .. fname .. "' (string expected, got " .. type(s) .. ")", 3)
    end
    return s
end

function ngx.md5(s)
    s = str(s)
    oxr_md5_hex(s, #s, digest)
    return ffi_string(digest, 32)
end

function ngx.md5_bin(s)
    s = str(s)
    oxr_md5_bin(s, #s, digest)
    return ffi_string(digest, 16)
end

function ngx.sha1_bin(s)
    s = str(s)
    oxr_sha1_bin(s, #s, digest)
    return ffi_string(digest, 20)
end

function ngx.hmac_sha1(key, s)
    key, s = str(key), str(s)
    oxr_hmac_sha1(key, #key, s, #s, digest)
    return ffi_string(digest, 20)
end

function ngx.crc32_short(s)
    s = str(s)
    return tonumber(oxr_crc32(s, #s))
end
ngx.crc32_long = ngx.crc32_short

-- (callers have made `s` a string)
local function encode_base64(s, no_padding, url)
    local np = no_padding and 1 or 0
    local out = buffer(tonumber(oxr_base64_encoded_len(#s, np)))
    local n = oxr_encode_base64(s, #s, out, np, url)
    return ffi_string(out, n)
end

local function decode_base64(s, url)
    local out = buffer(math.floor(#s / 4) * 3 + 3)
    local n = tonumber(oxr_decode_base64(s, #s, out, url))
    if n < 0 then return nil end
    return ffi_string(out, n)
end

-- as lua-resty-core's: any value is encoded as its text (nil as ""), and only a string
-- is decoded
function ngx.encode_base64(s, no_padding)
    if no_padding and no_padding ~= true then
        error("bad no_padding: boolean expected, got " .. type(no_padding), 2)
    end
    return encode_base64(str(s), no_padding, 0)
end

function ngx.decode_base64(s)
    if type(s) ~= "string" then
        error("string argument only", 2)
    end
    return decode_base64(s, 0)
end

-- the ngx.base64 module's url-safe variants
-- (as lua-resty-core: bad input is reported by return values, not raised)
__oxr.base64 = {
    encode_base64url = function(s)
        if type(s) ~= "string" then return nil, "must provide a string" end
        return encode_base64(s, true, 1)
    end,
    decode_base64url = function(s)
        if type(s) ~= "string" then return nil, "must provide a string" end
        local res = decode_base64(s, 1)
        if res == nil then return nil, "invalid input" end
        return res
    end,
}

-- type 2 (the default) escapes a URI component, type 0 a whole URI
function ngx.escape_uri(s, esc_type)
    s = str(s)
    local whole = 0
    if esc_type ~= nil and esc_type ~= 2 then
        if esc_type ~= 0 then
            error("bad argument #2 to 'escape_uri' (0 or 2 expected, got " .. tostring(esc_type) .. ")", 2)
        end
        whole = 1
    end
    local out = buffer(tonumber(oxr_escape_uri_len(s, #s, whole)))
    return ffi_string(out, oxr_escape_uri(s, #s, out, whole))
end

function ngx.unescape_uri(s)
    s = str(s)
    local out = buffer(#s + 1)
    return ffi_string(out, oxr_unescape_uri(s, #s, out))
end

function ngx.quote_sql_str(s)
    s = need_string(s, 1, "quote_sql_str")
    local out = buffer(tonumber(oxr_quote_sql_len(s, #s)))
    return ffi_string(out, oxr_quote_sql(s, #s, out))
end

function ngx.now()
    return tonumber(oxr_now())
end

function ngx.time()
    return tonumber(oxr_time())
end

-- modules oxiresty provides built in
package.preload["ngx.base64"] = function() return __oxr.base64 end

-- ---- request paths ----

ffi.cdef[[
int oxr_var_get(const char *name, size_t len, const unsigned char **val, size_t *vlen);
int oxr_var_set(const char *name, size_t len, const char *val, size_t vlen, int unset);
int oxr_ctx_ref(void);
int oxr_set_ctx_ref(int slot);
int oxr_free_ctx_ref(void);
int oxr_resp_header_set(const char *name, size_t len, const char *val, size_t vlen);
int oxr_req_headers_count(void);
int oxr_req_header(int i, int lower, const unsigned char **name, size_t *nlen, const unsigned char **val, size_t *vlen);
int oxr_output(const char *s, size_t len, int newline);
]]
-- the functions themselves, looked up once: an interpreted `C.name(...)` pays a
-- namespace lookup on every call
local oxr_var_get = C.oxr_var_get
local oxr_var_set = C.oxr_var_set
local oxr_ctx_ref = C.oxr_ctx_ref
local oxr_set_ctx_ref = C.oxr_set_ctx_ref
local oxr_free_ctx_ref = C.oxr_free_ctx_ref
local oxr_resp_header_set = C.oxr_resp_header_set
local oxr_req_headers_count = C.oxr_req_headers_count
local oxr_req_header = C.oxr_req_header
local oxr_output = C.oxr_output

local NO_REQ, NOT_CHANGEABLE, BAD_CONTEXT, NEEDS_VM, NEEDS_HEADER, HEADER_ONLY = -100, -2, -5, -6, -7, -8
local new_tab = require "table.new"
local val_ptr = ffi.new("const unsigned char *[1]")
local val_len = ffi.new("size_t[1]")
local name_ptr = ffi.new("const unsigned char *[1]")
local name_len = ffi.new("size_t[1]")
local setmetatable, getmetatable, rawget, select = setmetatable, getmetatable, rawget, select
local str_lower, str_gsub = string.lower, string.gsub

-- ngx.var
local var_mt = getmetatable(ngx.var)
local slow_var_get = var_mt.__index
var_mt.__index = function(t, name)
    if type(name) ~= "string" then
        return slow_var_get(t, name)
    end
    local rc = oxr_var_get(name, #name, val_ptr, val_len)
    if rc == 0 then
        return ffi_string(val_ptr[0], val_len[0])
    end
    if rc == NO_REQ then no_request(2) end
    return nil
end
var_mt.__newindex = function(t, name, value)
    local unset = 0
    if value == nil then
        unset, value = 1, ""
    elseif type(value) == "number" then
        value = tostring(value)
    elseif type(value) ~= "string" then
        error("bad variable value: " .. type(value) .. " given", 2)
    end
    local rc = oxr_var_set(name, #name, value, #value, unset)
    if rc == 0 then return end
    if rc == NO_REQ then no_request(2) end
    if rc == NOT_CHANGEABLE then error('variable "' .. name .. '" not changeable', 2) end
    error('variable "' .. name .. '" not found for writing; maybe it is a built-in variable that is not changeable or you forgot to use "set $'
          .. name .. " '';\" in the config file to define it", 2)
end

-- ngx.ctx: one table per request, kept in `ctxs`; the request holds its slot.
-- init_worker_by_lua and exit_worker_by_lua have one of their own (see no_request).
local ctxs, n_ctxs = {}, 0
local worker_phase_ctx = {}
local function get_ctx()
    local slot = oxr_ctx_ref()
    if slot >= 0 then
        return ctxs[slot]
    end
    if slot == NO_REQ then
        local phase = worker_phase()
        if not phase then error("no request found", 3) end
        local t = worker_phase_ctx[phase] or {}
        worker_phase_ctx[phase] = t
        return t
    end
    local t = {}
    slot = oxr_free_ctx_ref()
    if slot < 0 then
        n_ctxs = n_ctxs + 1
        slot = n_ctxs
    end
    ctxs[slot] = t
    oxr_set_ctx_ref(slot)
    return t
end
local function set_ctx(t)
    if type(t) ~= "table" then
        error("ctx should be a table while getting a " .. type(t), 3)
    end
    local slot = oxr_ctx_ref()
    if slot == NO_REQ then
        local phase = worker_phase()
        if not phase then error("no request found", 3) end
        worker_phase_ctx[phase] = t
        return
    end
    if slot < 0 then
        slot = oxr_free_ctx_ref()
        if slot < 0 then
            n_ctxs = n_ctxs + 1
            slot = n_ctxs
        end
        oxr_set_ctx_ref(slot)
    end
    ctxs[slot] = t
end

-- a slot holding `t`, for a subrequest made with `ctx = t` (the subrequest frees it)
function __oxr.ctx_slot(t)
    local slot = oxr_free_ctx_ref()
    if slot < 0 then
        n_ctxs = n_ctxs + 1
        slot = n_ctxs
    end
    ctxs[slot] = t
    return slot
end

local ngx_mt = getmetatable(ngx)
local slow_ngx_index, slow_ngx_newindex = ngx_mt.__index, ngx_mt.__newindex
ngx_mt.__index = function(t, k)
    if k == "ctx" then return get_ctx() end
    return slow_ngx_index(t, k)
end
ngx_mt.__newindex = function(t, k, v)
    if k == "ctx" then return set_ctx(v) end
    return slow_ngx_newindex(t, k, v)
end

-- ngx.header: single string values through the FFI, the rest (tables, nil) as before
local header_mt = getmetatable(ngx.header)
local slow_header_set = header_mt.__newindex
header_mt.__newindex = function(t, name, value)
    local tv = type(value)
    if type(name) == "string" and (tv == "string" or tv == "number") then
        if tv == "number" then value = tostring(value) end
        local rc = oxr_resp_header_set(name, #name, value, #value)
        if rc == NO_REQ then no_request(2) end
        if rc == -4 then error("invalid Content-Length header value: " .. value, 2) end
        return
    end
    return slow_header_set(t, name, value)
end

-- ngx.req.get_headers: the table is built here from the request's header list
local str_find = string.find
local headers_mt = {
    -- headers["Content-Type"], headers.content_type: other spellings of the lowercase key
    __index = function(t, k)
        if type(k) ~= "string" then return nil end
        local lk = str_lower(k)
        if lk ~= k then
            local v = rawget(t, lk)
            if v ~= nil then return v end
        end
        if str_find(lk, "_", 1, true) then
            return rawget(t, (str_gsub(lk, "_", "-")))
        end
        return nil
    end,
}
function ngx.req.get_headers(max, raw)
    if max == nil then
        max = 100
    elseif type(max) ~= "number" then
        error("bad argument #1 to 'get_headers' (number expected, got " .. type(max) .. ")", 2)
    end
    local n = oxr_req_headers_count()
    if n == NO_REQ then no_request(2) end
    local truncated
    if max > 0 and n > max then
        n, truncated = max, "truncated"
    end
    local t = new_tab(0, n)
    local lower = raw and 0 or 1
    for i = 0, n - 1 do
        oxr_req_header(i, lower, name_ptr, name_len, val_ptr, val_len)
        local k = ffi_string(name_ptr[0], name_len[0])
        local v = ffi_string(val_ptr[0], val_len[0])
        local prev = rawget(t, k)
        if prev == nil then
            t[k] = v
        elseif type(prev) == "table" then
            prev[#prev + 1] = v
        else
            t[k] = { prev, v }
        end
    end
    if not raw then setmetatable(t, headers_mt) end
    return t, truncated
end

-- one to eight strings and numbers (the usual case): gathered in a reused buffer, one
-- FFI call, no new string. Fixed parameters, not a loop over `...`: the JIT cannot compile
-- a loop over varargs.
local out_buf = require("string.buffer").new()
local function plain(v)
    local t = type(v)
    return t == "string" or t == "number"
end
local function gathered(n, a, b, c, d, e, f, g, h)
    if not (plain(a) and (n < 2 or plain(b)) and (n < 3 or plain(c)) and (n < 4 or plain(d))
            and (n < 5 or plain(e)) and (n < 6 or plain(f)) and (n < 7 or plain(g))
            and (n < 8 or plain(h))) then
        return nil
    end
    -- past the n-th, the parameters are nil: "" adds nothing
    out_buf:reset()
    out_buf:put(a, b or "", c or "", d or "", e or "", f or "", g or "", h or "")
    return out_buf:ref()
end

-- ngx.say / ngx.print: strings and numbers go out through one FFI call; anything else
-- (booleans, nil, ngx.null, tables, bad arguments) takes the general path
local send_headers = ngx.send_headers
local TAKE_SLOW = -1000  -- (not one of oxr_output's answers)
local function output(slow, newline)
    -- The FFI call sits in a function of fixed parameters: LuaJIT starts no trace at a
    -- vararg function, so where the caller is not compiled (a request that waited on a
    -- socket or a sleep runs interpreted after the wait) this one still can be, and an
    -- interpreted FFI call costs ~1,000 instructions.
    local function fast(n, a, b, c, d, e, f, g, h)
        local p, len
        if n == 1 and type(a) == "string" then
            p, len = a, #a
        else
            p, len = gathered(n, a, b, c, d, e, f, g, h)
            if p == nil then return TAKE_SLOW end
        end
        local rc = oxr_output(p, len, newline)
        if rc == NEEDS_HEADER then
            send_headers()
            rc = oxr_output(p, len, newline)
        end
        -- the general path runs Lua filters (which an FFI call must not): given the
        -- values already joined, as one string
        if rc == NEEDS_VM then return rc, n == 1 and p or ffi_string(p, len) end
        return rc
    end
    return function(...)
        local n = select("#", ...)
        if n == 0 or n > 8 then return slow(...) end
        local rc, joined = fast(n, ...)
        if rc == 1 then return 1 end
        if rc == NO_REQ then no_request(2, true) end
        if rc == NEEDS_VM then return slow(joined) end
        -- (BAD_CONTEXT: the general path words the refusal with the phase's name)
        if rc == TAKE_SLOW or rc == BAD_CONTEXT then return slow(...) end
        if rc == HEADER_ONLY then return nil, "header only" end
        return nil, "seen eof"
    end
end
ngx.say = output(ngx.say, 1)
ngx.print = output(ngx.print, 0)
