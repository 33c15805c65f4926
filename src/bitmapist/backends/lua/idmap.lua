-- Gives every external id in ARGV its integer, numbering ids never seen from
-- the size of the map: one script run is atomic, so concurrent writers (any
-- number of processes, on one server or a cluster, where both keys share a
-- slot) never give one id two integers or one integer to two ids.
--
-- KEYS[1]: the forward hash, external id -> integer.
-- KEYS[2]: the reverse hash, integer -> external id.
-- ARGV: the external ids, encoded and tagged by bitmapist.idmap.
-- Returns the integers, in the order of ARGV.

local forward, reverse = KEYS[1], KEYS[2]
local size = redis.call("HLEN", forward)
local found = {}
for i, key in ipairs(ARGV) do
  local number = redis.call("HGET", forward, key)
  if not number then
    -- "%d": a Lua number turned into a string by Redis would use "%.14g".
    number = string.format("%d", size)
    size = size + 1
    redis.call("HSET", forward, key, number)
    redis.call("HSET", reverse, number, key)
  end
  found[i] = tonumber(number)
end
return found
