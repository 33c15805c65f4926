-- The undo log of write.lua and mark.lua, which are sent with this file
-- before them. A write remembers each change as it makes it, so that a
-- failing command (a key holding another type) can take them all back:
--   remember("bit", key, offset, old)   a bit that was ``old``
--   remember("key", key)                a key the write created
--   remember("member", key, member)     a member it added to a set

local undo = {}

local function remember(...)
  undo[#undo + 1] = {...}
end

local function undo_all()
  for j = #undo, 1, -1 do
    local step = undo[j]
    if step[1] == "bit" then
      redis.call("SETBIT", step[2], step[3], step[4])
    elseif step[1] == "key" then
      redis.call("DEL", step[2])
    else
      redis.call("SREM", step[2], step[3])
    end
  end
  undo = {}
end

