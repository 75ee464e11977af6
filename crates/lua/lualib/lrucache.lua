-- resty.lrucache (and resty.lrucache.pureffi), as OpenResty bundles them: a per-worker
-- LRU cache of any Lua values. Written for the JIT: one key -> node lookup; the nodes
-- (recency links, deadline, flags, the value's slot) live in one FFI array, so moving
-- an item to the front is plain pointer writes (no GC barrier, no boxing), and the
-- value comes from a Lua array by the node's slot number.
local ffi = require "ffi"
local ffi_new, ffi_cast = ffi.new, ffi.cast
local setmetatable, type, floor = setmetatable, type, math.floor
local ngx_now = ngx.now
local clear_tab = require "table.clear"

-- (declared once per VM: this file may be loaded again, e.g. as the pureffi variant)
if not pcall(ffi.typeof, "oxr_lru_node_t") then
    ffi.cdef [[
typedef struct oxr_lru_node_s oxr_lru_node_t;
struct oxr_lru_node_s {
    oxr_lru_node_t *prev;
    oxr_lru_node_t *next;
    double expire;      /* seconds; -1: never */
    uint32_t flags;
    int32_t slot;       /* where its key and value are */
};
]]
end
local node_array = ffi.typeof "oxr_lru_node_t[?]"
local node_ptr = ffi.typeof "oxr_lru_node_t *"

local _M = { _VERSION = "0.15" }
local mt = { __index = _M }

function _M.new(size, load_factor)
    if type(size) ~= "number" or size < 1 then
        return nil, "size too small"
    end
    size = floor(size)
    local nodes = ffi_new(node_array, size + 1)
    -- node 0 is the list's head: its next is the most recently used, its prev the least
    local head = ffi_cast(node_ptr, nodes)
    head.prev, head.next = head, head
    return setmetatable({
        nodes = nodes, -- (keeps the array alive)
        head = head,
        index = {}, -- key -> node
        keys = {}, -- slot -> key
        vals = {}, -- slot -> value
        spare = {}, -- slots to reuse
        nspare = 0,
        used = 0, -- slots handed out at least once
        num_items = 0,
        max_items = size,
        -- false until an item gets a deadline: gets skip the clock check until then
        any_ttl = false,
    }, mt)
end

local function unlink(node)
    local p, n = node.prev, node.next
    p.next = n
    n.prev = p
end

local function push_front(head, node)
    local first = head.next
    node.prev = head
    node.next = first
    first.prev = node
    head.next = node
end

function _M.count(self)
    return self.num_items
end

function _M.capacity(self)
    return self.max_items
end

function _M.get(self, key)
    local node = self.index[key]
    if not node then
        return nil
    end
    -- (moving the front item to the front again costs less than testing for it)
    unlink(node)
    push_front(self.head, node)
    if self.any_ttl then
        local e = node.expire
        if e >= 0 and e < ngx_now() then
            return nil, self.vals[node.slot], node.flags
        end
    end
    return self.vals[node.slot], nil, node.flags
end

function _M.delete(self, key)
    local index = self.index
    local node = index[key]
    if not node then
        return false
    end
    index[key] = nil
    unlink(node)
    local slot = node.slot
    self.keys[slot], self.vals[slot] = nil, nil
    local n = self.nspare + 1
    self.spare[n] = slot
    self.nspare = n
    self.num_items = self.num_items - 1
    return true
end

function _M.set(self, key, value, ttl, flags)
    local index = self.index
    local head = self.head
    local node = index[key]
    if not node then
        local slot
        if self.num_items < self.max_items then
            local n = self.nspare
            if n > 0 then
                slot = self.spare[n]
                self.spare[n] = nil
                self.nspare = n - 1
            else
                slot = self.used + 1
                self.used = slot
            end
            self.num_items = self.num_items + 1
            node = head + slot
            node.slot = slot
        else
            -- full: the least recently used item makes room
            node = head.prev
            slot = node.slot
            index[self.keys[slot]] = nil
            unlink(node)
        end
        self.keys[slot] = key
        index[key] = node
        push_front(head, node)
    else
        unlink(node)
        push_front(head, node)
    end
    self.vals[node.slot] = value
    if ttl then
        node.expire = ngx_now() + ttl
        self.any_ttl = true
    else
        node.expire = -1
    end
    node.flags = (type(flags) == "number" and flags >= 0) and flags or 0
end

function _M.get_keys(self, max_count, res)
    if not max_count or max_count == 0 then
        max_count = self.num_items
    end
    res = res or {}
    local head, keys = self.head, self.keys
    local n = 0
    local node = head.next
    while node ~= head and n < max_count do
        n = n + 1
        res[n] = keys[node.slot]
        node = node.next
    end
    res[n + 1] = nil
    return res
end

function _M.flush_all(self)
    clear_tab(self.index)
    clear_tab(self.keys)
    clear_tab(self.vals)
    clear_tab(self.spare)
    self.nspare = 0
    self.used = 0
    self.num_items = 0
    self.any_ttl = false
    local head = self.head
    head.prev, head.next = head, head
end

return _M
