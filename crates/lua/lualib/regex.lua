-- ngx.re (match, find, gmatch, sub, gsub) and `require "ngx.re"` (split, opt), over the
-- PCRE2 entry points of src/api/regex.rs. Arguments, results and error texts as
-- lua-resty-core's; the options as lua-nginx-module built with PCRE2 maps them.
local ffi = require "ffi"
local bit = require "bit"
local C = ffi.C
local ffi_string, ffi_gc, ffi_new = ffi.string, ffi.gc, ffi.new
local band, bor, lshift = bit.band, bit.bor, bit.lshift
local sub, fmt = string.sub, string.format
local type, tostring, error, setmetatable = type, tostring, error, setmetatable
local math_max = math.max
local new_tab = require "table.new"

ffi.cdef[[
typedef struct {
    int ncaptures;
    int flags;
    int name_count;
    int name_entry_size;
    const unsigned char *name_table;
    int *captures;
} oxr_regex_t;
oxr_regex_t *oxr_re_compile(const unsigned char *pat, size_t len, int flags,
    uint32_t options, unsigned char *err, size_t err_cap);
void oxr_re_free(oxr_regex_t *re);
int oxr_re_exec(oxr_regex_t *re, int flags, const unsigned char *s, size_t len, size_t pos);
int oxr_re_compile_template(oxr_regex_t *re, const unsigned char *s, size_t len);
int oxr_re_set_jit_stack_size(size_t size);
int oxr_re_substitute(oxr_regex_t *re, int flags, const unsigned char *s, size_t len,
    int global, const unsigned char **out, size_t *out_len);
]]
local re_compile = C.oxr_re_compile
local re_free = C.oxr_re_free
local re_exec = C.oxr_re_exec
local re_compile_template = C.oxr_re_compile_template
local re_substitute = C.oxr_re_substitute

local FLAG_COMPILE_ONCE = 0x01
local FLAG_DFA = 0x02
local FLAG_JIT = 0x04
local FLAG_DUPNAMES = 0x08
local FLAG_NO_UTF_CHECK = 0x10

local PCRE2_CASELESS = 0x00000008
local PCRE2_MULTILINE = 0x00000400
local PCRE2_DOTALL = 0x00000020
local PCRE2_EXTENDED = 0x00000080
local PCRE2_ANCHORED = 0x80000000
local PCRE2_UTF = 0x00080000
local PCRE2_DUPNAMES = 0x00000040
-- PCRE2 has no JavaScript mode: these are what made up PCRE's
local PCRE2_JS_COMPAT = bor(0x00000002, 0x00000200, 0x00000001) -- ALT_BSUX, MATCH_UNSET_BACKREF, ALLOW_EMPTY_CLASS
local NOMATCH = -1
local ERR_LEN = 128

local errbuf = ffi_new("unsigned char[?]", ERR_LEN)
local out_ptr = ffi_new "const unsigned char *[1]"
local out_len = ffi_new "size_t[1]"

-- options strings, parsed once each
local parsed_opts = {}

-- what each option letter sets: the flags we pass and PCRE2's compile options
local OPTION = {
    o = { FLAG_COMPILE_ONCE, 0 },
    j = { FLAG_JIT, 0 },
    i = { 0, PCRE2_CASELESS },
    s = { 0, PCRE2_DOTALL },
    m = { 0, PCRE2_MULTILINE },
    u = { 0, PCRE2_UTF },
    U = { FLAG_NO_UTF_CHECK, PCRE2_UTF },
    x = { 0, PCRE2_EXTENDED },
    d = { FLAG_DFA, 0 },
    a = { 0, PCRE2_ANCHORED },
    D = { FLAG_DUPNAMES, PCRE2_DUPNAMES },
    J = { 0, PCRE2_JS_COMPAT },
}

local function parse_opts(opts)
    local t = parsed_opts[opts]
    if t then
        return t[1], t[2]
    end
    local flags, options = 0, 0
    for i = 1, #opts do
        local c = sub(opts, i, i)
        local o = OPTION[c]
        if not o then
            error(fmt('unknown flag "%s" (flags "%s")', c, opts), 4)
        end
        flags, options = bor(flags, o[1]), bor(options, o[2])
    end
    parsed_opts[opts] = { flags, options }
    return flags, options
end

-- the compiled-regex cache of the "o" option: lua_regex_cache_max_entries of them at
-- most (further ones are compiled per call, as lua-resty-core's sub cache does)
local cache, sub_cache = {}, {}
local cached = 0

local function cache_max()
    return __oxr.regex_cache_max or 1024
end

-- t[k], an empty table put there first when there is none
local function child(t, k)
    local c = t[k]
    if not c then
        c = {}
        t[k] = c
    end
    return c
end

-- a compiled regex (cached with "o"), nil and the error text, and the flags
local function compile(regex, opts, template)
    if type(regex) ~= "string" then
        regex = tostring(regex)
    end
    -- keyed by options, then pattern (then template): no key string is built per call;
    -- only options with "o" ever make an entry
    local root = template and sub_cache or cache
    if opts then
        local hit = root[opts]
        hit = hit and hit[regex]
        if hit and template then
            hit = hit[template]
        end
        if hit then
            return hit, nil, hit.flags
        end
    end
    local flags, options = 0, 0
    if opts then
        flags, options = parse_opts(opts)
    else
        opts = ""
    end
    local once = band(flags, FLAG_COMPILE_ONCE) ~= 0
    local re = re_compile(regex, #regex, flags, options, errbuf, ERR_LEN)
    if re == nil then
        return nil, ffi_string(errbuf)
    end
    ffi_gc(re, re_free)
    if template and re_compile_template(re, template, #template) ~= 0 then
        return nil, "failed to compile the replacement template"
    end
    if once and cached < cache_max() then
        local by_pattern = child(root, opts)
        if template then
            child(by_pattern, regex)[template] = re
        else
            by_pattern[regex] = re
        end
        cached = cached + 1
    end
    return re, nil, flags
end

-- how many groups a match set, from exec's code (a DFA match that filled its offsets
-- counts as one), or nil and the error; PCRE2_ERROR_NOMATCH is the caller's to handle
local function groups(rc, flags)
    if rc > 0 then
        return rc
    end
    if rc == 0 then
        if band(flags, FLAG_DFA) ~= 0 then
            return 1
        end
        return nil, "capture size too small"
    end
    return nil, "pcre_exec() failed: " .. rc
end

local function collect_named(re, flags, res)
    local table_ = re.name_table
    local size = re.name_entry_size
    local dup = band(flags, FLAG_DUPNAMES) ~= 0
    local at = 0
    for _ = 1, re.name_count do
        local n = bor(lshift(table_[at], 8), table_[at + 1])
        local name = ffi_string(table_ + at + 2)
        local cap = res[n]
        if dup then
            -- (unmatched groups are left out)
            if cap then
                local list = res[name]
                if list then
                    list[#list + 1] = cap
                else
                    res[name] = { cap }
                end
            end
        else
            res[name] = cap
        end
        at = at + size
    end
end

local function collect(re, rc, subj, flags, res)
    local caps = re.captures
    local ncap = re.ncaptures
    -- (sized up front: in LuaJIT the array part holds index 0 too)
    res = res or new_tab(ncap, re.name_count)
    for i = 0, ncap do
        if i >= rc then
            res[i] = false
        else
            local from = caps[2 * i]
            if from >= 0 then
                res[i] = sub(subj, from + 1, caps[2 * i + 1])
            else
                res[i] = false
            end
        end
    end
    if re.name_count > 0 then
        collect_named(re, flags, res)
    end
    return res
end

local function start_pos(ctx)
    if ctx then
        local pos = ctx.pos
        if pos and pos > 0 then
            return pos - 1
        end
    end
    return 0
end

-- match (want_caps) and find
local function match_helper(subj, regex, opts, ctx, want_caps, res, nth)
    subj = tostring(subj)
    local re, err, flags = compile(regex, opts)
    if re == nil then
        if want_caps then
            return nil, err
        end
        return nil, nil, err
    end
    local pos = start_pos(ctx)
    local rc = pos <= #subj and re_exec(re, flags, subj, #subj, pos) or NOMATCH
    if rc == NOMATCH then
        return nil
    end
    rc, err = groups(rc, flags)
    if not rc then
        if want_caps then
            return nil, err
        end
        return nil, nil, err
    end
    local caps = re.captures
    if ctx then
        ctx.pos = caps[1] + 1
    end
    if not want_caps then
        if not nth or nth < 0 then
            nth = 0
        end
        if nth > re.ncaptures then
            return nil, nil, "nth out of bound"
        end
        if nth >= rc then
            return nil, nil
        end
        local from, to = caps[2 * nth], caps[2 * nth + 1]
        if from < 0 or to < 0 then
            return nil, nil
        end
        return from + 1, to
    end
    return collect(re, rc, subj, flags, res)
end

local re = {}

function re.match(subj, regex, opts, ctx, res)
    return match_helper(subj, regex, opts, ctx, true, res)
end

function re.find(subj, regex, opts, ctx, nth)
    return match_helper(subj, regex, opts, ctx, false, nil, nth)
end

local gmatch_mt = {}
gmatch_mt.__index = gmatch_mt

function gmatch_mt.__call(it)
    local pos = it.pos
    if not pos then
        return nil -- exhausted
    end
    local re, subj, flags = it.re, it.subj, it.flags
    local len = #subj
    local rc = re_exec(re, flags, subj, len, pos)
    if rc == NOMATCH then
        it.pos = nil
        return nil
    end
    local err
    rc, err = groups(rc, flags)
    if not rc then
        it.pos = nil
        return nil, err
    end
    local caps = re.captures
    local next_pos = caps[1]
    if next_pos == caps[0] then
        -- an empty match: the next try starts one byte on
        next_pos = next_pos + 1
        if next_pos > len then
            it.pos = nil
            return collect(re, rc, subj, flags)
        end
    end
    it.pos = next_pos
    return collect(re, rc, subj, flags)
end

function re.gmatch(subj, regex, opts)
    subj = tostring(subj)
    local compiled, err, flags = compile(regex, opts)
    if compiled == nil then
        return nil, err
    end
    return setmetatable({ re = compiled, subj = subj, flags = flags, pos = 0 }, gmatch_mt)
end

-- sub / gsub with a function: the loop runs here, the function between matches
local function sub_function(subj, regex, replace, opts, global)
    local compiled, err, flags = compile(regex, opts)
    if compiled == nil then
        return nil, nil, err
    end
    subj = tostring(subj)
    local len = #subj
    local pieces, n = {}, 0
    local count, pos, copied = 0, 0, 0
    while true do
        local rc = re_exec(compiled, flags, subj, len, pos)
        if rc == NOMATCH then
            break
        end
        rc, err = groups(rc, flags)
        if not rc then
            return nil, nil, err
        end
        count = count + 1
        local caps = compiled.captures
        local from, to = caps[0], caps[1]
        local piece = tostring(replace(collect(compiled, rc, subj, flags)))
        n = n + 1
        pieces[n] = sub(subj, copied + 1, from)
        n = n + 1
        pieces[n] = piece
        copied = to
        pos = to
        if to == from then
            pos = pos + 1
            if pos > len then
                break
            end
        end
        if not global then
            break
        end
    end
    if count == 0 then
        return subj, 0
    end
    n = n + 1
    pieces[n] = sub(subj, copied + 1)
    return table.concat(pieces, "", 1, n), count
end

local function sub_helper(subj, regex, replace, opts, global)
    if type(replace) == "function" then
        return sub_function(subj, regex, replace, opts, global)
    end
    if type(replace) ~= "string" then
        replace = tostring(replace)
    end
    local compiled, err, flags = compile(regex, opts, replace)
    if compiled == nil then
        return nil, nil, err
    end
    subj = tostring(subj)
    local count = re_substitute(compiled, flags, subj, #subj, global and 1 or 0, out_ptr, out_len)
    if count < 0 then
        local _, failure = groups(count, flags)
        return nil, nil, failure
    end
    if count == 0 then
        return subj, 0
    end
    return ffi_string(out_ptr[0], out_len[0]), count
end

function re.sub(subj, regex, replace, opts)
    return sub_helper(subj, regex, replace, opts, false)
end

function re.gsub(subj, regex, replace, opts)
    return sub_helper(subj, regex, replace, opts, true)
end

ngx.re = re

-- `require "ngx.re"`: split and opt
local module = { version = "0.1.28" }

-- the next separator from ctx.pos (0-based): its 1-based bounds, and group 1 if set
local function next_separator(subj, compiled, flags, ctx)
    local len = #subj
    local pos = math_max(ctx.pos, 0)
    if pos > len then
        return nil
    end
    local rc = re_exec(compiled, flags, subj, len, pos)
    if rc == NOMATCH then
        return nil
    end
    local err
    rc, err = groups(rc, flags)
    if not rc then
        return nil, nil, nil, err
    end
    local caps = compiled.captures
    local from, to = caps[0], caps[1]
    if from < 0 or to < 0 then
        return nil
    end
    ctx.pos = from == to and to + 1 or to
    if compiled.ncaptures > 0 and rc > 1 and caps[2] >= 0 then
        return from + 1, to + 1, sub(subj, caps[2] + 1, caps[3])
    end
    return from + 1, to + 1
end

local split_ctx = {}

function module.split(subj, regex, opts, ctx, max, res)
    subj = tostring(subj)
    if not ctx then
        ctx = split_ctx
        ctx.pos = 1
    elseif not ctx.pos then
        ctx.pos = 1
    end
    max = max or 0
    if res == nil then
        res = {}
    elseif type(res) ~= "table" then
        error("res is not a table", 2)
    end
    local len = #subj
    if ctx.pos > len then
        res[1] = nil
        return res
    end
    local compiled, err, flags = compile(regex, opts)
    if compiled == nil then
        return nil, err
    end
    local piece_start = ctx.pos
    local n = 0
    local last_empty
    ctx.pos = piece_start - 1
    local pieces = 1
    while max <= 0 or pieces < max do
        local from, to, capture, err = next_separator(subj, compiled, flags, ctx)
        if err then
            return nil, err
        end
        if not from then
            break
        end
        if last_empty then
            piece_start = last_empty
        end
        if from == to then
            last_empty = from
        end
        -- an empty separator right where the piece starts splits nothing
        if from > piece_start or not last_empty then
            pieces = pieces + 1
            n = n + 1
            res[n] = sub(subj, piece_start, from - 1)
            if capture then
                n = n + 1
                res[n] = capture
            end
            piece_start = to
            if piece_start > len then
                break
            end
        end
    end
    if max <= 0 and piece_start > len then
        -- trailing empty pieces are dropped without a limit
        while n > 0 and res[n] == "" do
            res[n] = nil
            n = n - 1
        end
    else
        n = n + 1
        res[n] = sub(subj, piece_start)
    end
    res[n + 1] = nil
    return res
end

function module.opt(option, value)
    if option == "jit_stack_size" then
        if cached > 0 then
            error("changing jit stack size is not allowed when some " ..
                  "regexs have already been compiled and cached", 2)
        end
        if C.oxr_re_set_jit_stack_size(value) ~= 0 then
            error("pcre jit stack allocation failed", 2)
        end
        return
    end
    error("unrecognized option name", 2)
end

package.preload["ngx.re"] = function() return module end
