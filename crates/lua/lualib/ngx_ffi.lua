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
size_t oxr_escape_uri_len(const unsigned char *s, size_t len);
size_t oxr_escape_uri(const unsigned char *s, size_t len, unsigned char *out);
size_t oxr_unescape_uri(const unsigned char *s, size_t len, unsigned char *out);
size_t oxr_quote_sql_len(const unsigned char *s, size_t len);
size_t oxr_quote_sql(const unsigned char *s, size_t len, unsigned char *out);
double oxr_now(void);
int64_t oxr_time(void);
]]

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

-- lua-resty-core's rule for hash inputs: nil hashes as "", other non-strings by tostring
local function str(s)
    if type(s) ~= "string" then
        if s == nil then return "" end
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
    C.oxr_md5_hex(s, #s, digest)
    return ffi_string(digest, 32)
end

function ngx.md5_bin(s)
    s = str(s)
    C.oxr_md5_bin(s, #s, digest)
    return ffi_string(digest, 16)
end

function ngx.sha1_bin(s)
    s = str(s)
    C.oxr_sha1_bin(s, #s, digest)
    return ffi_string(digest, 20)
end

function ngx.hmac_sha1(key, s)
    key, s = str(key), str(s)
    C.oxr_hmac_sha1(key, #key, s, #s, digest)
    return ffi_string(digest, 20)
end

function ngx.crc32_short(s)
    s = str(s)
    return tonumber(C.oxr_crc32(s, #s))
end
ngx.crc32_long = ngx.crc32_short

local function encode_base64(s, no_padding, url, fname)
    s = need_string(s, 1, fname)
    local np = no_padding and 1 or 0
    local out = buffer(tonumber(C.oxr_base64_encoded_len(#s, np)))
    local n = C.oxr_encode_base64(s, #s, out, np, url)
    return ffi_string(out, n)
end

local function decode_base64(s, url, fname)
    s = need_string(s, 1, fname)
    local out = buffer(math.floor(#s / 4) * 3 + 3)
    local n = tonumber(C.oxr_decode_base64(s, #s, out, url))
    if n < 0 then return nil end
    return ffi_string(out, n)
end

function ngx.encode_base64(s, no_padding)
    if no_padding ~= nil and type(no_padding) ~= "boolean" then
        error("bad argument #2 to 'encode_base64' (boolean expected, got " .. type(no_padding) .. ")", 2)
    end
    return encode_base64(s, no_padding, 0, "encode_base64")
end

function ngx.decode_base64(s)
    return decode_base64(s, 0, "decode_base64")
end

-- the ngx.base64 module's url-safe variants
__oxr.base64 = {
    encode_base64url = function(s) return encode_base64(s, true, 1, "encode_base64url") end,
    decode_base64url = function(s) return decode_base64(s, 1, "decode_base64url") end,
}

function ngx.escape_uri(s)
    if type(s) ~= "string" then
        if s == nil then return "" end
        s = tostring(s)
    end
    local out = buffer(tonumber(C.oxr_escape_uri_len(s, #s)))
    return ffi_string(out, C.oxr_escape_uri(s, #s, out))
end

function ngx.unescape_uri(s)
    if type(s) ~= "string" then
        if s == nil then return "" end
        s = tostring(s)
    end
    local out = buffer(#s + 1)
    return ffi_string(out, C.oxr_unescape_uri(s, #s, out))
end

function ngx.quote_sql_str(s)
    s = need_string(s, 1, "quote_sql_str")
    local out = buffer(tonumber(C.oxr_quote_sql_len(s, #s)))
    return ffi_string(out, C.oxr_quote_sql(s, #s, out))
end

function ngx.now()
    return tonumber(C.oxr_now())
end

function ngx.time()
    return tonumber(C.oxr_time())
end

-- modules oxiresty provides built in
package.preload["ngx.base64"] = function() return __oxr.base64 end
