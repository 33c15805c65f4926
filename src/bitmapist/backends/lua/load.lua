-- Commits, or rolls back, one shard of a bitmap that a load stores on a Redis
-- Cluster (see staging.py). The bitmap's string for this shard was SET into a
-- staging key of the same slot beforehand; committing swaps it in and keeps
-- what it replaced, so that a rollback can put the shard back as it was.
-- Each run is atomic, and the backup's existence says whether the shard was
-- committed, so either step may be sent again after a lost reply. A rollback
-- leaves the backup as a tombstone (its one field "rolled_back", with an
-- expiry), so that a commit arriving after it (a retry, a command still in
-- flight) is refused instead of applied.
--
-- KEYS[1]: the bitmap's key in this shard.
-- KEYS[2]: the staging key holding its new string (absent unless "set").
-- KEYS[3]: the backup: a hash recording what the commit changed.
-- KEYS[4]: where the replaced string is kept (RENAME keeps its expiry).
-- KEYS[5]: the universe's key in this shard.
-- KEYS[6...]: registry sets that record the bitmap in this shard.
-- ARGV[1]: "commit" or "rollback".
-- ARGV[2]: "set" (the staged string replaces the key), "delete" (the bitmap
--          has no ids here: the key goes), or "name" (delete, and record the
--          bitmap in the registries: an empty bitmap stays known by name).
-- ARGV[3]: seconds the backup and the replaced string are kept: a client
--          that dies between commit and clean-up leaves them to expire.
-- ARGV[4]: "1" to OR the new string into the universe, "0" not to; "u" when
--          the bitmap is the universe itself (ORed in, nothing replaced).
-- ARGV[5...]: one member for each registry set, in the order of KEYS.
-- Returns 1 when it changed something, 0 when there was nothing to do.

local key, staged, backup, old, universe = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local step, action, keep, merge = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]

local function kind(name)
  return redis.call("TYPE", name)["ok"]
end

if step == "rollback" then
  redis.call("DEL", staged)
  if redis.call("EXISTS", backup) == 0 or redis.call("HEXISTS", backup, "rolled_back") == 1 then
    -- Never committed, or rolled back already: a commit must not follow.
    redis.call("HSET", backup, "rolled_back", "1")
    redis.call("EXPIRE", backup, keep)
    return 0
  end
  if merge ~= "u" then
    if redis.call("HEXISTS", backup, "old") == 1 and redis.call("EXISTS", old) == 1 then
      redis.call("RENAME", old, key)
      local at = tonumber(redis.call("HGET", backup, "old"))
      if at > 0 then
        redis.call("PEXPIREAT", key, at)
      else
        redis.call("PERSIST", key)
      end
    else
      redis.call("DEL", key)
    end
  end
  for i = 6, #KEYS do
    if redis.call("HEXISTS", backup, "added:" .. i) == 1 then
      redis.call("SREM", KEYS[i], ARGV[i - 1])
    end
  end
  redis.call("DEL", backup)
  redis.call("HSET", backup, "rolled_back", "1")
  redis.call("EXPIRE", backup, keep)
  return 1
end

if step ~= "commit" then
  return redis.error_reply("ERR bitmapist load: no step " .. tostring(step))
end
if redis.call("HEXISTS", backup, "rolled_back") == 1 then
  return redis.error_reply("ERR bitmapist load: " .. key .. " was rolled back"
    .. " before this commit arrived; it is not applied")
end
if redis.call("EXISTS", backup) == 1 then
  return 0 -- committed already, by this same load
end

-- Every check comes before the first change, so a refused shard changes nothing.
for _, name in ipairs({key, universe}) do
  local found = kind(name)
  if found ~= "none" and found ~= "string" then
    return redis.error_reply("WRONGTYPE bitmapist load: " .. name .. " holds a "
      .. found .. ", not a string")
  end
end
for i = 6, #KEYS do
  local found = kind(KEYS[i])
  if found ~= "none" and found ~= "set" then
    return redis.error_reply("WRONGTYPE bitmapist load: " .. KEYS[i] .. " holds a "
      .. found .. ", not a set")
  end
end
if action == "set" and redis.call("EXISTS", staged) == 0 then
  return redis.error_reply("ERR bitmapist load: the staged string " .. staged
    .. " is gone (it expired, or was deleted)")
end
if action == "delete" and (merge == "u" or redis.call("EXISTS", key) == 0) then
  return 0
end

redis.call("HSET", backup, "done", "1")
if merge == "u" then
  -- The universe only grows: its new ids are ORed in and never taken back.
  redis.call("BITOP", "OR", universe, universe, staged)
  redis.call("DEL", staged)
else
  if redis.call("EXISTS", key) == 1 then
    local ttl = redis.call("PTTL", key)
    local at = 0
    if ttl > 0 then
      local now = redis.call("TIME")
      at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ttl
    end
    redis.call("HSET", backup, "old", string.format("%d", at))
    redis.call("RENAME", key, old)
    redis.call("EXPIRE", old, keep)
  end
  if action == "set" then
    redis.call("RENAME", staged, key)
    redis.call("PERSIST", key)
    if merge == "1" then
      redis.call("BITOP", "OR", universe, universe, key)
    end
  end
end
if action ~= "delete" then
  for i = 6, #KEYS do
    if redis.call("SADD", KEYS[i], ARGV[i - 1]) == 1 then
      redis.call("HSET", backup, "added:" .. i, "1")
    end
    -- A loaded bitmap never expires, and its registry neither.
    redis.call("PERSIST", KEYS[i])
  end
end
redis.call("EXPIRE", backup, keep)
return 1
