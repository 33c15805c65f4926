-- Sets or clears one id in the bitmaps of one shard and records them in their
-- registries: what a single mark_event or unmark_event writes. write.lua can
-- do the same, but this is the commonest write, and doing only this costs the
-- server about half as much. A key of the wrong type fails the mark with
-- nothing of it written. Sent after undo.lua.
--
-- KEYS: the bitmaps, then the registry sets.
-- ARGV[1]: "1" to set the bit, "0" to clear it.
-- ARGV[2]: the id's offset in the shard.
-- ARGV[3]: how many of KEYS are bitmaps.
-- ARGV[4...]: one member for each registry but the last, then every member
--             of the last: only the last may take several.

local bit, offset, bitmaps = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- Every write registers the bitmaps it creates, and deletion and expiry
-- never leave a bitmap without its registry entries: bitmaps that all exist
-- are registered already.
local registered = redis.call("EXISTS", unpack(KEYS, 1, bitmaps)) == bitmaps

local function fail(err)
  undo_all()
  return redis.error_reply(err)
end

for i = 1, bitmaps do
  -- A bitmap this mark creates is undone by deleting it.
  local created = not registered and redis.call("EXISTS", KEYS[i]) == 0
  local old = redis.pcall("SETBIT", KEYS[i], offset, bit)
  if type(old) == "table" then return fail(old.err) end
  if created then
    remember("key", KEYS[i])
  elseif old ~= bit then
    remember("bit", KEYS[i], offset, old)
  end
end

local last = registered and bitmaps or #KEYS
for i = bitmaps + 1, last - 1 do
  local member = ARGV[i - bitmaps + 3]
  local added = redis.pcall("SADD", KEYS[i], member)
  if type(added) == "table" then return fail(added.err) end
  if added == 1 then remember("member", KEYS[i], member) end
end
-- The last SADD, failing, adds nothing: it is never undone.
if last > bitmaps then
  local added = redis.pcall("SADD", KEYS[last], unpack(ARGV, last - bitmaps + 3))
  if type(added) == "table" then return fail(added.err) end
end
return 1
