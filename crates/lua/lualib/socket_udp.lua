-- ngx.socket.udp: the UDP cosocket's methods over the primitives of src/api/socket_udp.rs,
-- arguments checked as lua-nginx-module checks them (self is argument #1).
local P = __oxr
local done, socket_data, argerror, sock_of = P.socket_done, P.socket_data, P.argerror, P.socket_of
local udp_new, udp_setpeername, udp_send = P.udp_new, P.udp_setpeername, P.udp_send
local udp_receive, udp_settimeout, udp_close = P.udp_receive, P.udp_settimeout, P.udp_close
local type, tonumber, setmetatable = type, tonumber, setmetatable

local mt = {}
mt.__index = mt

function mt.setpeername(self, host, port)
    local sock = sock_of(self)
    if type(host) ~= "string" then
        argerror(0, 2, "string expected, got " .. type(host))
    end
    if port ~= nil then
        local n = tonumber(port)
        if n == nil then
            argerror(0, 3, "number expected, got " .. type(port))
        end
        port = n
    end
    return done(udp_setpeername(sock, host, port))
end

function mt.send(self, data)
    local sock = sock_of(self)
    return done(udp_send(sock, socket_data(data)))
end

function mt.receive(self, size)
    local sock = sock_of(self)
    if size ~= nil then
        local n = tonumber(size)
        if n == nil then
            argerror(0, 2, "number expected, got " .. type(size))
        end
        -- (a negative size reads as large as a datagram can be, as lua-nginx-module's)
        size = n >= 0 and n or nil
    end
    return done(udp_receive(sock, size))
end

function mt.settimeout(self, ms)
    local sock = sock_of(self)
    local n = tonumber(ms)
    if ms ~= nil and (n == nil or n < 0 or n >= 2 ^ 31) then
        error("bad timeout value", 2)
    end
    udp_settimeout(sock, n or 0)
end

function mt.close(self)
    return udp_close(sock_of(self))
end

ngx.socket.udp = function()
    return setmetatable({ udp_new() }, mt)
end
