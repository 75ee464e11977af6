-- https_get's answer as one text: "status body", or "nil" and the error (t/153).
local get = require "https_get"
return function(...)
    local res, err = get(...)
    return res or ("nil" .. tostring(err))
end
