-- Checks, before a store's MULTI/EXEC on one server (redis.py), that every key
-- the transaction writes holds the type its commands need: inside MULTI a
-- WRONGTYPE fails only its own command and the others apply, so the store
-- would no longer be all or nothing. The keys are WATCHed first, so what this
-- finds holds until EXEC, or EXEC does nothing.
--
-- KEYS: the keys. ARGV[i]: "string" or "set", the type KEYS[i] may hold (it
-- may also not exist).
-- Returns 0, or a WRONGTYPE error naming the first key of another type.

for i, name in ipairs(KEYS) do
  local found = redis.call("TYPE", name)["ok"]
  if found ~= "none" and found ~= ARGV[i] then
    return redis.error_reply("WRONGTYPE bitmapist store: " .. name .. " holds a "
      .. found .. ", not a " .. ARGV[i])
  end
end
return 0
