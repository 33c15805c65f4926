-- Sets or clears one id in the bitmaps of one shard and records them in their
-- registries: what a single mark_event or unmark_event writes. write.lua can
-- do the same, but this is the commonest write, and doing only this costs the
-- server about a quarter less (benchmarks/README.md). A key of the wrong type fails the mark with
-- nothing of it written. Sent after undo.lua.
--
-- KEYS: the bitmaps, then the registry sets.
-- ARGV[1]: "1" to set the bit, "0" to clear it.
-- ARGV[2]: the id's offset in the shard.
-- ARGV[3]: how many of KEYS are bitmaps.
-- ARGV[4...]: one member for each registry but the last, then every member
--             of the last: only the last may take several. The last is the
--             event's period registry when the mark has one.

local bit, offset, bitmaps = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local function fail(err)
  undo_all()
  return redis.error_reply(err)
end

-- A bitmap this mark creates is undone by deleting it. Most marks create
-- none, which one EXISTS over them all tells; only the others ask per key.
local all_exist = redis.call("EXISTS", unpack(KEYS, 1, bitmaps)) == bitmaps

for i = 1, bitmaps do
  local created = not all_exist and redis.call("EXISTS", KEYS[i]) == 0
  local old = redis.pcall("SETBIT", KEYS[i], offset, bit)
  if type(old) == "table" then return fail(old.err) end
  if created then
    remember("key", KEYS[i])
  elseif old ~= bit then
    remember("bit", KEYS[i], offset, old)
  end
end

local last = #KEYS
for i = bitmaps + 1, last - 1 do
  local member = ARGV[i - bitmaps + 3]
  local added = redis.pcall("SADD", KEYS[i], member)
  if type(added) == "table" then return fail(added.err) end
  if added == 1 then remember("member", KEYS[i], member) end
end
-- The last SADD, failing, adds nothing: it is never undone. The last
-- registry is the event's periods, which an instance with expiry may have
-- given a deadline: a mark kept for ever keeps it for ever (register.lua).
if last > bitmaps then
  local added = redis.pcall("SADD", KEYS[last], unpack(ARGV, last - bitmaps + 3))
  if type(added) == "table" then return fail(added.err) end
  redis.call("PERSIST", KEYS[last])
end
return 1
