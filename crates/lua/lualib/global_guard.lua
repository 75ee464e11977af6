-- Loaded last, as "_G write guard": a request that creates a global variable gets a
-- warning, as in OpenResty (globals are shared by every request of the worker, so one
-- written while serving a request is a race with the others). init_by_lua and
-- init_worker_by_lua may create globals freely.
local rawset, tostring = rawset, tostring
local ngx_log, WARN, get_phase = ngx.log, ngx.WARN, ngx.get_phase
local traceback = debug.traceback

local function __newindex(t, key, value)
    rawset(t, key, value)
    local phase = get_phase()
    if phase == "init" or phase == "init_worker" then
        return
    end
    ngx_log(WARN, "writing a global Lua variable ('", tostring(key),
            "') which may lead to race conditions between concurrent requests, so prefer the use of 'local' variables",
            traceback("", 2))
end

setmetatable(_G, { __newindex = __newindex })
