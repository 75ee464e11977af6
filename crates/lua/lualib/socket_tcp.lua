-- ngx.socket.tcp (ngx.socket.stream, ngx.socket.connect): the cosocket object's methods
-- over the primitives of src/api/socket_tcp.rs, arguments checked as lua-nginx-module
-- checks them. A primitive that must wait returns PARKED: the method then yields
-- OP_AWAIT and returns what the driver resumes it with.
local P = __oxr
local yield = coroutine.yield
local TAG, OP_AWAIT, PARKED = P.yield_tag, P.OP_AWAIT, P.parked
local tcp_new, tcp_connect, tcp_send = P.tcp_new, P.tcp_connect, P.tcp_send
local tcp_receive, tcp_receiveany = P.tcp_receive, P.tcp_receiveany
local tcp_until_new, tcp_until_read = P.tcp_until_new, P.tcp_until_read
local tcp_close, tcp_settimeouts, tcp_setkeepalive = P.tcp_close, P.tcp_settimeouts, P.tcp_setkeepalive
local tcp_getreusedtimes, tcp_setoption = P.tcp_getreusedtimes, P.tcp_setoption
local tcp_sslhandshake, tcp_ssl_session = P.tcp_sslhandshake, P.tcp_ssl_session
local ssl_client_cert_der = P.ssl_client_cert_der
local type, tostring, tonumber, error, select, setmetatable = type, tostring, tonumber, error, select, setmetatable
local argerror = P.argerror

-- a primitive's answer, or (PARKED) what its wait comes to; shared with socket_udp.lua
local function done(first, ...)
    if first == PARKED then
        return yield(TAG, OP_AWAIT)
    end
    return first, ...
end
P.socket_done = done

local mt = {}
mt.__index = mt

-- the primitive socket inside a cosocket object (shared with socket_udp.lua); arguments
-- are numbered as lua-nginx-module's C functions number them: self is #1
local function sock_of(self)
    if type(self) ~= "table" or type(self[1]) ~= "userdata" then
        argerror(1, 1, "table expected, got " .. type(self))
    end
    return self[1]
end
P.socket_of = sock_of

function mt.connect(self, host, port, opts)
    local sock = sock_of(self)
    if type(port) == "table" then
        opts, port = port, nil
    end
    if type(host) ~= "string" then
        argerror(0, 2, "string expected, got " .. type(host))
    end
    local pool, pool_size
    if opts ~= nil then
        if type(opts) ~= "table" then
            argerror(0, 4, "table expected, got " .. type(opts))
        end
        pool = opts.pool
        if pool ~= nil and type(pool) ~= "string" then
            if type(pool) ~= "number" then
                argerror(0, 4, 'bad "pool" option type: ' .. type(pool))
            end
            pool = tostring(pool)
        end
        pool_size = opts.pool_size
        if pool_size ~= nil then
            if type(pool_size) ~= "number" then
                argerror(0, 4, 'bad "pool_size" option type: ' .. type(pool_size))
            end
            if pool_size <= 0 then
                argerror(0, 4, 'bad "pool_size" option value: ' .. pool_size)
            end
        end
        local backlog = opts.backlog
        if backlog ~= nil and (type(backlog) ~= "number" or backlog < 0) then
            argerror(0, 4, 'bad "backlog" option ' .. (type(backlog) ~= "number" and "type: " .. type(backlog) or "value: " .. backlog))
        end
    end
    if port ~= nil then
        local n = tonumber(port)
        if n == nil then
            argerror(0, 3, "number expected, got " .. type(port))
        end
        port = n
    end
    return done(tcp_connect(sock, host, port, pool, pool_size))
end

-- sslhandshake(reused_session?, server_name?, ssl_verify?, send_status_req?): the session
-- (an object to offer next time) or, when reused_session is false, true
function mt.sslhandshake(self, reused_session, server_name, ssl_verify, send_status_req, ...)
    local n = select("#", ...)
    if type(self) ~= "table" or n > 0 then
        error("ngx.socket sslhandshake: expecting 1 ~ 5 arguments (including the object), but seen "
              .. (type(self) == "table" and 5 + n or 0), 2)
    end
    local sock = sock_of(self)
    if server_name ~= nil and type(server_name) ~= "string" then
        error("bad server name: string expected, got " .. type(server_name), 2)
    end
    if reused_session ~= nil and reused_session ~= false and type(reused_session) ~= "userdata" then
        error("bad session: userdata expected, got " .. type(reused_session), 2)
    end
    local ok, err = done(tcp_sslhandshake(sock, reused_session or nil, server_name, ssl_verify and true or false,
                                          self.client_cert, self.client_key))
    if not ok then
        return nil, err
    end
    if reused_session == false then
        return true
    end
    return tcp_ssl_session(sock) or true
end

-- setclientcert(cert, pkey): a chain and key from ngx.ssl.parse_pem_cert/_priv_key that
-- the next sslhandshake offers (both nil: none again)
function mt.setclientcert(self, cert, pkey)
    sock_of(self)
    if (cert == nil) ~= (pkey == nil) then
        return nil, "client certificate must be supplied with corresponding private key"
    end
    if cert == nil then
        self.client_cert, self.client_key = nil, nil
    else
        self.client_cert, self.client_key = ssl_client_cert_der(cert, pkey)
    end
    return true
end

-- what send() takes: a string, number, boolean or nil, or an array of strings, numbers
-- and arrays (nested), written into one reused buffer (no table of parts, no string per
-- number); the error for anything else
local send_buf = require("string.buffer").new()
local function put_flat(v, top)
    local t = type(v)
    if t == "string" or t == "number" then
        send_buf:put(v)
    elseif top and (t == "boolean" or t == "nil") then
        send_buf:put(tostring(v))
    elseif t == "table" then
        for i = 1, #v do
            local err = put_flat(v[i], false)
            if err then
                return err
            end
        end
    elseif top then
        return "string, number, boolean, nil, or array table expected, got " .. t
    else
        return "bad data type " .. t .. " found"
    end
end

-- the bytes a send() argument stands for (shared with socket_udp.lua)
local function socket_data(data)
    if type(data) == "string" then
        return data
    end
    send_buf:reset()
    local err = put_flat(data, true)
    if err then
        argerror(1, 2, err)
    end
    local bytes = send_buf:tostring()
    if #bytes > 65536 then
        -- (a large send does not stay allocated in the buffer)
        send_buf:free()
    end
    return bytes
end
P.socket_data = socket_data

function mt.send(self, data)
    local sock = sock_of(self)
    return done(tcp_send(sock, socket_data(data)))
end

function mt.receive(self, pattern)
    local sock = sock_of(self)
    local t = type(pattern)
    if t == "number" then
        if pattern < 0 then
            argerror(0, 2, "bad pattern argument beyond 0")
        end
        return done(tcp_receive(sock, nil, pattern))
    end
    if pattern ~= nil and pattern ~= "*l" and pattern ~= "*a" and pattern ~= "l" and pattern ~= "a" then
        local n = tonumber(pattern)
        if n and n >= 0 then
            return done(tcp_receive(sock, nil, n))
        end
        argerror(0, 2, "bad pattern argument: " .. tostring(pattern))
    end
    return done(tcp_receive(sock, pattern, nil))
end

function mt.receiveany(self, max)
    local sock = sock_of(self)
    local n = tonumber(max)
    if n == nil or n <= 0 then
        argerror(0, 2, "bad max argument")
    end
    return done(tcp_receiveany(sock, n))
end

function mt.receiveuntil(self, pattern, opts)
    local sock = sock_of(self)
    if type(pattern) ~= "string" then
        argerror(0, 2, "string expected, got " .. type(pattern))
    end
    if pattern == "" then
        return nil, "pattern is empty"
    end
    local inclusive = false
    if opts ~= nil then
        if type(opts) ~= "table" then
            argerror(0, 3, "table expected, got " .. type(opts))
        end
        local v = opts.inclusive
        if v ~= nil and type(v) ~= "boolean" then
            error('bad "inclusive" option value type: ' .. type(v), 2)
        end
        inclusive = v or false
    end
    local state = tcp_until_new(pattern, inclusive)
    return function(size)
        if size ~= nil then
            size = tonumber(size)
            if size == nil or size < 0 then
                argerror(0, 1, "bad size")
            end
        end
        return done(tcp_until_read(sock, state, size))
    end
end

function mt.close(self)
    return tcp_close(sock_of(self))
end

function mt.settimeout(self, ms)
    local sock = sock_of(self)
    local n = tonumber(ms)
    if ms ~= nil and (n == nil or n < 0 or n >= 2 ^ 31) then
        error("bad timeout value", 2)
    end
    tcp_settimeouts(sock, n or 0, n or 0, n or 0)
end

function mt.settimeouts(self, connect, send, read)
    local sock = sock_of(self)
    local c, s, r = tonumber(connect) or 0, tonumber(send) or 0, tonumber(read) or 0
    for _, v in ipairs({ c, s, r }) do
        if v < 0 or v >= 2 ^ 31 then
            error("bad timeout value", 2)
        end
    end
    tcp_settimeouts(sock, c, s, r)
end

function mt.setkeepalive(self, timeout, size)
    local sock = sock_of(self)
    if timeout ~= nil then
        timeout = tonumber(timeout)
        if timeout == nil or timeout < 0 then
            argerror(0, 2, "bad timeout")
        end
    end
    if size ~= nil then
        size = tonumber(size)
        if size == nil or size <= 0 then
            argerror(0, 3, "bad pool size")
        end
    end
    return tcp_setkeepalive(sock, timeout, size)
end

function mt.getreusedtimes(self)
    return tcp_getreusedtimes(sock_of(self))
end

function mt.setoption(self, option, value)
    return tcp_setoption(sock_of(self), option, value)
end

local function tcp()
    return setmetatable({ tcp_new() }, mt)
end

-- a metatable with some of the cosocket methods
local function methods(...)
    local t = {}
    for i = 1, select("#", ...) do
        local name = select(i, ...)
        t[name] = mt[name]
    end
    t.__index = t
    return t
end

-- ngx.req.socket(): the request body, to read (no send, no connect, no pool)
local body_mt = methods("receive", "receiveany", "receiveuntil", "settimeout", "settimeouts", "close")
-- ngx.req.socket(true): the client connection, both ways
local raw_mt = methods("receive", "receiveany", "receiveuntil", "send", "settimeout", "settimeouts",
    "setoption", "close")

local req_socket = P.req_socket
function ngx.req.socket(raw)
    local sock, err = req_socket(raw and true or false)
    if not sock then
        return nil, err
    end
    return setmetatable({ sock }, raw and raw_mt or body_mt)
end

ngx.socket = ngx.socket or {}
ngx.socket.tcp = tcp
ngx.socket.stream = tcp

function ngx.socket.connect(host, port, opts)
    local sock = tcp()
    local ok, err = sock:connect(host, port, opts)
    if not ok then
        return nil, err
    end
    return sock
end
