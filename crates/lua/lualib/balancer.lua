-- `require "ngx.balancer"`: lua-resty-core's module over the primitives of
-- src/api/balancer.rs, with its argument checks and answers.
local P = __oxr
local set_peer, set_more_tries = P.balancer_set_peer, P.balancer_set_more_tries
local last_failure, set_timeouts = P.balancer_last_failure, P.balancer_set_timeouts
local recreate, enable_keepalive = P.balancer_recreate_request, P.balancer_enable_keepalive
local set_upstream_tls, bind_to_local_addr = P.balancer_set_upstream_tls, P.balancer_bind_to_local_addr
local type, tonumber, error = type, tonumber, error

local _M = { version = "0.1.28" }

function _M.set_current_peer(addr, port, host)
    if not port then
        port = 0
    elseif type(port) ~= "number" then
        port = tonumber(port) or 0
    end
    if host ~= nil and type(host) ~= "string" then
        error("bad argument #3 to 'set_current_peer' (string expected, got " .. type(host) .. ")")
    end
    -- (the length of a non-string raises here, as it does in lua-resty-core)
    local _ = #addr
    return set_peer(addr, port, host)
end

-- an argument of enable_keepalive: its default when absent, else a number >= 0 scaled
local function keepalive_arg(v, n, default, scale)
    if not v then
        return default
    end
    if type(v) ~= "number" then
        error("bad argument #" .. n .. " to 'enable_keepalive' (number expected, got " .. type(v) .. ")", 3)
    end
    if v < 0 then
        error("bad argument #" .. n .. " to 'enable_keepalive' (expected >= 0)", 3)
    end
    return v * scale
end

function _M.enable_keepalive(idle_timeout, max_requests)
    -- (seconds in, milliseconds for the primitive)
    return enable_keepalive(keepalive_arg(idle_timeout, 1, 60000, 1000), keepalive_arg(max_requests, 2, 100, 1))
end

function _M.set_more_tries(count)
    -- true, or true and the warning that the count was reduced
    return set_more_tries(tonumber(count) or 0)
end

function _M.get_last_failure()
    local state, status = last_failure()
    if state == nil and status ~= nil then
        -- an error: nil, nil and why
        return nil, nil, status
    end
    return state, status
end

local function timeout_ms(v, what)
    if not v then
        return 0
    end
    if type(v) ~= "number" or v <= 0 then
        error("bad " .. what .. " timeout", 3)
    end
    return v * 1000
end

function _M.set_timeouts(connect_timeout, send_timeout, read_timeout)
    local c = timeout_ms(connect_timeout, "connect")
    local s = timeout_ms(send_timeout, "send")
    local r = timeout_ms(read_timeout, "read")
    local ok, err = set_timeouts(c, s, r)
    if ok then
        return true
    end
    return false, err
end

function _M.recreate_request()
    return recreate()
end

function _M.set_upstream_tls(on)
    return set_upstream_tls(not (on == 0 or on == false))
end

function _M.bind_to_local_addr(addr)
    if type(addr) ~= "string" then
        error("bad argument #1 to 'bind_to_local_addr' (string expected, got " .. type(addr) .. ")")
    end
    return bind_to_local_addr(addr)
end

package.preload["ngx.balancer"] = function()
    return _M
end
