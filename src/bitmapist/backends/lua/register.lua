-- Adds entries to a registry set whose entries name bitmaps that may expire,
-- and keeps the set alive exactly as long as its longest-lived entry: it
-- expires at the latest deadline of its entries, or never once one entry never
-- expires. So a registry never outlives, nor names for long, bitmaps that are
-- all gone. (Its TTL cannot be read from outside in the same transaction,
-- hence a script.)
--
-- KEYS[1]: the registry.
-- ARGV[1]: the deadline of the new entries in Unix seconds, "0" for never.
-- ARGV[2...]: the entries.

local registry = KEYS[1]
local deadline = tonumber(ARGV[1])
local ttl = redis.call("TTL", registry) -- -2: no such key, -1: no expiry
redis.call("SADD", registry, unpack(ARGV, 2))
if deadline == 0 then
  redis.call("PERSIST", registry)
elseif ttl == -2 then
  redis.call("EXPIREAT", registry, deadline)
elseif ttl >= 0 then
  local now = tonumber(redis.call("TIME")[1])
  if deadline > now + ttl then
    redis.call("EXPIREAT", registry, deadline)
  end
end
return 0
