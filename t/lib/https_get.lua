-- A GET over TLS from a cosocket to the test's https server (html/https.sock), for
-- t/151-ssl.t: "status body" and the session, or nil and the error.
return function(path, name, verify, session, host)
    local sock = ngx.socket.tcp()
    sock:settimeout(3000)
    local ok, err = sock:connect("unix:" .. ngx.config.prefix() .. "html/https.sock")
    if not ok then
        return nil, "connect: " .. err
    end
    local sess
    sess, err = sock:sslhandshake(session, name, verify)
    if not sess then
        return nil, err
    end
    sock:send("GET " .. path .. " HTTP/1.0\r\nHost: " .. (host or name or "x") .. "\r\n\r\n")
    local res = sock:receive("*a")
    sock:close()
    local status = res:match("^HTTP/1%.%d (%d+)")
    local body = res:match("\r\n\r\n(.-)\n?$")
    return status .. " " .. body, sess
end
