-- The Lua half of oxiresty's ngx API: functions that must yield to the request's driver
-- (sleep, exit, flush) are small wrappers around a checked argument and a tagged yield.
local yield = coroutine.yield
local P = __oxr
local TAG, OP_SLEEP, OP_EXIT, OP_FLUSH = P.yield_tag, P.OP_SLEEP, P.OP_EXIT, P.OP_FLUSH
local check_sleep, check_exit = P.check_sleep, P.check_exit
-- the APIs that produce the response or read the body belong to rewrite/access/content
local check_output = P.check_output

function ngx.sleep(...)
    local secs = check_sleep(select("#", ...), (...))
    -- (nil: a phase that cannot yield, where the sleep was done blocking)
    if secs then
        yield(TAG, OP_SLEEP, secs)
    end
end

function ngx.exit(code)
    local recorded
    code, recorded = check_exit(code)
    -- a header filter cannot yield: there ngx.exit returns at once (as in OpenResty,
    -- so `return ngx.exit(...)` is the idiom) and the filter runner acts on the code
    if recorded then
        return
    end
    yield(TAG, OP_EXIT, code)
end

local output_refusal = P.output_refusal
function ngx.flush(wait)
    check_output()
    local refused = output_refusal()
    if refused then
        return nil, refused
    end
    yield(TAG, OP_FLUSH, wait and 1 or 0)
    return 1
end

local OP_READ_BODY, OP_EXEC = P.OP_READ_BODY, P.OP_EXEC
local prepare_redirect, prepare_exec = P.prepare_redirect, P.prepare_exec

function ngx.req.read_body()
    check_output()
    yield(TAG, OP_READ_BODY)
end

function ngx.redirect(uri, status)
    yield(TAG, OP_EXIT, prepare_redirect(uri, status))
end

function ngx.exec(...)
    local n = select("#", ...)
    if n ~= 1 and n ~= 2 then
        error("expecting one or two arguments, but got " .. n, 2)
    end
    yield(TAG, OP_EXEC, prepare_exec(...))
end

-- User coroutines: an API that yields to the driver (ngx.sleep, ngx.exit, ...) may be
-- called inside a coroutine the user created. Its tagged yield then reaches the user's
-- `coroutine.resume`; these wrappers pass it up to the driver on the child's behalf and
-- resume the child with the answer, so user code sees ordinary coroutines.
local raw_resume, raw_create = coroutine.resume, coroutine.create

-- Errors from our Rust functions arrive as mlua error objects; pcall, xpcall and
-- coroutine.resume hand user code the plain message string, as OpenResty's C API does.
local error_text = P.error_text
local function plain(e)
    if type(e) == "userdata" then
        return error_text(e)
    end
    return e
end

local function caught(ok, ...)
    if ok then
        return true, ...
    end
    return false, plain((...))
end

local raw_pcall, raw_xpcall = pcall, xpcall
function pcall(f, ...)
    return caught(raw_pcall(f, ...))
end

function xpcall(f, handler, ...)
    return raw_xpcall(f, function(e)
        return handler(plain(e))
    end, ...)
end

local function pass(co, ok, ...)
    if not ok then
        return false, plain((...))
    end
    if (...) == TAG then
        return pass(co, raw_resume(co, yield(...)))
    end
    return true, ...
end

function coroutine.resume(co, ...)
    return pass(co, raw_resume(co, ...))
end

local function unwrap(ok, ...)
    if not ok then
        error((...), 0)
    end
    return ...
end

function coroutine.wrap(f)
    local co = raw_create(f)
    return function(...)
        return unwrap(coroutine.resume(co, ...))
    end
end

local set_uri = P.set_uri
function ngx.req.set_uri(uri, jump)
    if set_uri(uri, jump) then
        -- jumping: this rewrite handler ends here; the location is looked up again
        yield(TAG, OP_EXIT, 0)
    end
end

local OP_DISCARD_BODY = P.OP_DISCARD_BODY
function ngx.req.discard_body()
    check_output()
    yield(TAG, OP_DISCARD_BODY)
end

-- Light threads (ngx.thread): the driver (src/sched.rs) keeps them; these wrappers check
-- arguments as lua-nginx-module's C functions do and yield the rest to it. An error the
-- driver finds (waiting on a thread that is not one's child...) comes back as TAG, text.
local OP_SPAWN, OP_WAIT, OP_KILL = P.OP_SPAWN, P.OP_WAIT, P.OP_KILL
local check_thread_api = P.check_thread_api

-- the name the API was called by, as luaL_argerror finds it ('?' through pcall)
local getinfo = debug.getinfo
local function called_as(level)
    local info = getinfo(level + 1, "n")
    return info and info.name or "?"
end

-- luaL_argerror as LuaJIT words it, for APIs written in Lua: the name the API was
-- called by ('?' through pcall), the argument counted without self in a method call,
-- the position of the API's caller. `depth`: frames between the API and this call.
function P.argerror(depth, n, msg)
    local info = getinfo(2 + depth, "n")
    local name = info and info.name or "?"
    if info and info.namewhat == "method" then
        n = n - 1
        if n == 0 then
            error("calling '" .. name .. "' on bad self (" .. msg .. ")", 3 + depth)
        end
    end
    error("bad argument #" .. n .. " to '" .. name .. "' (" .. msg .. ")", 3 + depth)
end

local function check_threads(...)
    for i = 1, select("#", ...) do
        if type((select(i, ...))) ~= "thread" then
            error("bad argument #" .. i .. " to '" .. called_as(2) .. "' (lua thread expected)", 3)
        end
    end
end

-- spawned threads: true while not reaped (waited for or killed), then false; what
-- coroutine.status reports for them, as lua-nginx-module does ("running" while the
-- thread lives, "zombie" once it ended unwaited)
local uthreads = setmetatable({}, { __mode = "k" })
local raw_status, co_yielded = coroutine.status, P.co_yielded
function coroutine.status(co)
    local s = raw_status(co)
    if uthreads[co] then
        if s == "normal" or (s == "suspended" and co_yielded(co)) then
            return "running"
        end
        -- (one that ended keeps its results on its stack for wait: Lua says suspended)
        if s == "dead" or s == "suspended" then
            return "zombie"
        end
    end
    return s
end

ngx.thread = {}

-- (the marks are set in a function of fixed parameters, which LuaJIT compiles on its
-- own: the interpreter stores a coroutine key through a C call and a lookup, a trace
-- inline)
local function mark(co, live)
    uthreads[co] = live
end

local function spawned(co, msg)
    if co == TAG then
        error(msg, 0)
    end
    mark(co, true)
    return co
end

function ngx.thread.spawn(f, ...)
    check_thread_api(true)
    if type(f) ~= "function" then
        error("bad argument #1 to '" .. called_as(1) .. "' (Lua function expected)", 2)
    end
    return spawned(yield(TAG, OP_SPAWN, raw_create(f), ...))
end

local function reaped(co, ...)
    if co == TAG then
        error((...), 0)
    end
    if co ~= nil then
        mark(co, false)
    end
    return ...
end

function ngx.thread.wait(...)
    check_thread_api(false)
    check_threads(...)
    return reaped(yield(TAG, OP_WAIT, ...))
end

local function killed(t, ok, ...)
    if ok == TAG then
        error((...), 0)
    end
    if ok or (...) == "already terminated" then
        mark(t, false)
    end
    return ok, ...
end

function ngx.thread.kill(t)
    check_thread_api(false)
    check_threads(t)
    if uthreads[t] == false then
        return nil, "already waited or killed"
    end
    return killed(t, yield(TAG, OP_KILL, t))
end

-- ngx.timer.at / every, checked as lua-nginx-module checks them; the function is bound
-- to its arguments here, so that a timer holds one function (src/api/timer.rs)
local timer_add = P.timer_add
local unpack = unpack

local function bind(f, n, ...)
    if n == 0 then
        return f
    end
    local args = { ... }
    return function(premature)
        return f(premature, unpack(args, 1, n))
    end
end

local function add_timer(every, ...)
    local n = select("#", ...)
    if n < 2 then
        error("expecting at least 2 arguments but got " .. n, 3)
    end
    local delay, f = ...
    local d = tonumber(delay)
    if d == nil then
        error("bad argument #1 to '" .. called_as(2) .. "' (number expected, got " .. type(delay) .. ")", 3)
    end
    if every and d * 1000 < 1 then
        error("delay cannot be zero", 3)
    end
    if type(f) ~= "function" then
        error("bad argument #2 to '" .. called_as(2) .. "' (Lua function expected)", 3)
    end
    return timer_add(d, bind(f, n - 2, select(3, ...)), every)
end

-- (not tail calls: the checks name the API as its caller called it)
function ngx.timer.at(...)
    local ok, err = add_timer(false, ...)
    if ok then
        return ok
    end
    return nil, err
end

function ngx.timer.every(...)
    local ok, err = add_timer(true, ...)
    if ok then
        return ok
    end
    return nil, err
end

-- ngx.on_abort(f): f runs as a light thread when the client closes its connection
-- early (with lua_check_client_abort on); the driver keeps it (src/sched.rs)
local OP_ON_ABORT, check_on_abort = P.OP_ON_ABORT, P.check_on_abort
local function answered(first, ...)
    if first == TAG then
        error((...), 0)
    end
    return first, ...
end
function ngx.on_abort(f)
    local off = check_on_abort()
    if off then
        return nil, off
    end
    if type(f) ~= "function" then
        P.argerror(0, 1, "function expected, got " .. type(f))
    end
    return answered(yield(TAG, OP_ON_ABORT, raw_create(f)))
end

ngx.location = ngx.location or {}

-- ngx.location.capture / capture_multi: subrequests to locations of this server, run to
-- their end by the driver, one after the other; each answers status, body, truncated and
-- its headers (a name given twice: a list)
local OP_CAPTURE = P.OP_CAPTURE
local encode_args = ngx.encode_args
local METHOD_NAMES = {
    [ngx.HTTP_GET] = "GET", [ngx.HTTP_HEAD] = "HEAD", [ngx.HTTP_PUT] = "PUT",
    [ngx.HTTP_POST] = "POST", [ngx.HTTP_DELETE] = "DELETE", [ngx.HTTP_OPTIONS] = "OPTIONS",
    [ngx.HTTP_MKCOL] = "MKCOL", [ngx.HTTP_COPY] = "COPY", [ngx.HTTP_MOVE] = "MOVE",
    [ngx.HTTP_PROPFIND] = "PROPFIND", [ngx.HTTP_PROPPATCH] = "PROPPATCH",
    [ngx.HTTP_LOCK] = "LOCK", [ngx.HTTP_UNLOCK] = "UNLOCK", [ngx.HTTP_PATCH] = "PATCH",
    [ngx.HTTP_TRACE] = "TRACE",
}
local check_capture = P.check_capture
local raw_log = require("ngx.errlog").raw_log

-- one subrequest, checked, as the driver reads it: method, uri, args, body or false, the
-- ctx slot or false, flags (1 copy_all_vars, 2 share_all_vars, 4 always_forward_body),
-- then the number of `vars` and each name and value (appended to `out` from `n`)
local function sub_spec(out, n, uri, opts)
    if type(uri) ~= "string" then
        error("bad argument #1 to 'capture' (string expected, got " .. type(uri) .. ")", 3)
    end
    local method, args, body, ctx, flags = "GET", "", false, false, 0
    local q = uri:find("?", 1, true)
    if q then
        uri, args = uri:sub(1, q - 1), uri:sub(q + 1)
    end
    local vars = {}
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("Bad options arg: table expected", 3)
        end
        if opts.method ~= nil then
            method = METHOD_NAMES[opts.method]
            if not method then
                -- (lua-nginx-module's words: a logged reason, then its error)
                raw_log(ngx.ERR, "unsupported HTTP method: " .. tostring(opts.method))
                error("failed to adjust the subrequest: -1", 3)
            end
        end
        local a = opts.args
        if type(a) == "table" then
            a = encode_args(a)
        elseif a ~= nil and type(a) ~= "string" then
            error("Bad args option value", 3)
        end
        if a and a ~= "" then
            args = args ~= "" and args .. "&" .. a or a
        end
        if opts.body ~= nil then
            body = tostring(opts.body)
        end
        if opts.ctx ~= nil then
            if type(opts.ctx) ~= "table" then
                error("Bad ctx option value type " .. type(opts.ctx) .. ", expected a Lua table", 3)
            end
            ctx = P.ctx_slot(opts.ctx)
        end
        if opts.copy_all_vars then flags = flags + 1 end
        if opts.share_all_vars then flags = flags + 2 end
        if opts.always_forward_body then flags = flags + 4 end
        if opts.vars ~= nil then
            if type(opts.vars) ~= "table" then
                error("Bad vars option value", 3)
            end
            for k, v in pairs(opts.vars) do
                vars[#vars + 1] = tostring(k)
                vars[#vars + 1] = tostring(v)
            end
        end
    end
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5], out[n + 6], out[n + 7] =
        method, uri, args, body, ctx, flags, #vars / 2
    n = n + 7
    for i = 1, #vars do
        out[n + i] = vars[i]
    end
    return n + #vars
end

local function responses(n, ...)
    local out, at = {}, 1
    local v = { ... }
    for k = 1, n do
        local res = { status = v[at], body = v[at + 1], truncated = v[at + 2], header = {} }
        local nh = v[at + 3]
        at = at + 4
        for _ = 1, nh do
            local name, value = v[at], v[at + 1]
            at = at + 2
            local prev = res.header[name]
            if prev == nil then
                res.header[name] = value
            elseif type(prev) == "table" then
                prev[#prev + 1] = value
            else
                res.header[name] = { prev, value }
            end
        end
        out[k] = res
    end
    return out
end

function ngx.location.capture(uri, opts)
    check_capture()
    local spec = {}
    local n = sub_spec(spec, 0, uri, opts)
    return responses(1, yield(TAG, OP_CAPTURE, unpack(spec, 1, n)))[1]
end

function ngx.location.capture_multi(reqs)
    check_capture()
    if type(reqs) ~= "table" then
        error("bad argument #1 to 'capture_multi' (table expected, got " .. type(reqs) .. ")", 2)
    end
    local flat, n, count = {}, 0, 0
    for _, r in ipairs(reqs) do
        if type(r) ~= "table" then
            error("only array-like tables are allowed", 2)
        end
        n = sub_spec(flat, n, r[1], r[2])
        count = count + 1
    end
    if count == 0 then
        error("at least one subrequest should be specified", 2)
    end
    return unpack(responses(count, yield(TAG, OP_CAPTURE, unpack(flat, 1, n))))
end

-- a coroutine's traceback by its registry reference (logged after a thread's error)
local getregistry, traceback = debug.getregistry, debug.traceback
function P.traceback_of(key)
    return traceback(getregistry()[key], "", 0)
end

-- An entry thread that serves one request's function after another: it is resumed with
-- the function's job number, runs the function, and says it is done by a tagged yield
-- (the driver then keeps it for the next request). A function that fails or is left
-- suspended (ngx.exit, ngx.exec, a closed connection) ends its runner. (Not xpcall: a
-- compiled request function cannot return into a pcall frame, its traces would abort.)
-- Called by index, the function has no name of ours in tracebacks: they read
-- `in function <content_by_lua(nginx.conf:12):1>` as OpenResty's do.
local OP_DONE, jobs = P.OP_DONE, P.jobs
function P.runner()
    local id = yield(TAG, OP_DONE)
    while true do
        jobs[id]()
        id = yield(TAG, OP_DONE)
    end
end
-- The runner's own loop stays interpreted. A trace through it would inline the first
-- request function it met and guard on it (every other location's code leaving by a side
-- exit); left to the interpreter, each request function is compiled as a trace of its
-- own from its entry, as in OpenResty where C resumes the entry thread.
jit.off(P.runner)
