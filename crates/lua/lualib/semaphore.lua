-- `require "ngx.semaphore"`: lua-resty-core's module over the primitives of
-- src/api/semaphore.rs. A wait that must wait yields to the driver, which resumes it
-- with `true` or `nil, "timeout"`.
local P = __oxr
local yield = coroutine.yield
local TAG, OP_AWAIT = P.yield_tag, P.OP_AWAIT
local sema_new, sema_post, sema_count, sema_wait = P.sema_new, P.sema_post, P.sema_count, P.sema_wait
local type, tonumber, error, setmetatable = type, tonumber, error, setmetatable

local _M = { version = "0.1.28" }
local mt = { __index = _M }

function _M.new(n)
    n = tonumber(n) or 0
    if n < 0 then
        error("no negative number", 2)
    end
    return setmetatable({ sem = sema_new(n) }, mt)
end

local function check(self)
    if type(self) ~= "table" or type(self.sem) ~= "userdata" then
        error("not a semaphore instance", 3)
    end
end

-- a wait that waited ends `true, nil` or `false, "timeout"`
function _M.wait(self, seconds)
    check(self)
    local ms = tonumber(seconds) * 1000
    if ms < 0 then
        error("no negative number", 2)
    end
    local got, err = sema_wait(self.sem, ms)
    if got == 1 then
        return true
    end
    if got == 0 then
        return nil, "timeout"
    end
    if got == -1 then
        return nil, err
    end
    local ok
    ok, err = yield(TAG, OP_AWAIT)
    return ok, err
end

function _M.post(self, n)
    check(self)
    local num = n and tonumber(n) or 1
    if num < 1 then
        error("positive number required", 2)
    end
    sema_post(self.sem, num)
    return true
end

function _M.count(self)
    check(self)
    return sema_count(self.sem)
end

package.preload["ngx.semaphore"] = function()
    return _M
end
