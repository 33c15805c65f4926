-- Deletes named bitmaps from one shard with their registry entries, at once:
-- a mark in the shard comes wholly before the deletion or wholly after it.
-- The client lists each event's period registry first, to name the bitmaps;
-- when a registry no longer holds just the periods listed (a mark added one
-- meanwhile), the script deletes nothing and returns 0, and the client lists
-- the shard again. A registry of the wrong type fails the call before
-- anything is deleted.
--
-- KEYS: the events' names registry, the attributes' names registry, then
--       for each event its period registry and the bitmaps of the periods
--       listed, then the attributes' bitmaps.
-- ARGV[1]: how many events. Then for each event: its name, how many periods
--       were listed, and the listed members of its period registry. Then the
--       attributes' names.
-- Returns 1 once deleted, 0 when a period registry changed.

-- unpack takes a bounded number of values: commands over many keys go in
-- chunks.
local CHUNK = 1000

local function in_chunks(command, first, last, source, prefix)
  for start = first, last, CHUNK do
    local stop = math.min(start + CHUNK - 1, last)
    if prefix then
      redis.call(command, prefix, unpack(source, start, stop))
    else
      redis.call(command, unpack(source, start, stop))
    end
  end
end

local function check(name)
  local found = redis.call("TYPE", name)["ok"]
  if found ~= "none" and found ~= "set" then
    error({err = "WRONGTYPE bitmapist delete: " .. name .. " holds a " .. found
      .. ", not a set"})
  end
end

local ok, result = pcall(function()
  check(KEYS[1])
  check(KEYS[2])
  local events = {}
  local arg, key = 2, 3
  for _ = 1, tonumber(ARGV[1]) do
    local name, listed = ARGV[arg], tonumber(ARGV[arg + 1])
    local registry = KEYS[key]
    check(registry)
    -- As many members, each of them listed: the same set.
    if redis.call("SCARD", registry) ~= listed then return 0 end
    local was_listed = {}
    for i = arg + 2, arg + 1 + listed do was_listed[ARGV[i]] = true end
    for _, member in ipairs(redis.call("SMEMBERS", registry)) do
      if not was_listed[member] then return 0 end
    end
    events[#events + 1] = {name = name, key = key, listed = listed}
    arg = arg + 2 + listed
    key = key + 1 + listed
  end
  for _, event in ipairs(events) do
    in_chunks("DEL", event.key, event.key + event.listed, KEYS)
    redis.call("SREM", KEYS[1], event.name)
  end
  in_chunks("DEL", key, #KEYS, KEYS)
  in_chunks("SREM", arg, #ARGV, ARGV, KEYS[2])
  return 1
end)
if not ok then
  if type(result) == "table" and result.err then
    return redis.error_reply(result.err)
  end
  return redis.error_reply(tostring(result))
end
return result
