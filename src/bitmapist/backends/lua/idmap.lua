-- The id map's get-or-create (or lookup) within one bucket, whose hashes all
-- share one hash slot. One script run is atomic, so concurrent writers (any
-- number of processes, on one server or a cluster) never give one id two
-- integers or one integer to two ids: a bucket numbers its ids 0, 1, 2, ...
-- from its own count, and the client makes integers of them that no other
-- bucket makes (see redis_idmap.py).
--
-- A bucket's forward hashes come in levels: level L has 2^L hashes and holds
-- the ids numbered from size * (2^L - 1) to size * (2^(L+1) - 1) - 1, each in
-- the hash its id's hash picks; so every hash holds about `size` ids, small
-- enough for Redis to keep it listpack-encoded, and nothing is ever moved.
-- An id is looked for in every level. Reverse hashes hold `reverse` numbers
-- each, by number.
--
-- KEYS[1]: the bucket's level-0 forward hash, which also holds the bucket's
--          count of ids under the field "#" (no encoded id is "#").
-- ARGV[1]: "create" (number ids never seen) or "lookup" (write nothing).
-- ARGV[2]: the bucket's key names up to their part ("<...>:"): forward
--          hashes are <base>f<level>.<n>, reverse hashes <base>r<n>.
-- ARGV[3], ARGV[4]: ids per forward hash level, numbers per reverse hash.
-- ARGV[5...]: pairs of an encoded id and its hash, a decimal integer.
-- Returns each id's number within the bucket, in order; false for an id
-- never seen in "lookup" mode.

local create = ARGV[1] == "create"
local base = ARGV[2]
local size, reverse = tonumber(ARGV[3]), tonumber(ARGV[4])
local count = tonumber(redis.call("HGET", KEYS[1], "#") or "0")

local function level_of(number)
  local level, first, width = 0, 0, size
  while number >= first + width do
    first, width, level = first + width, width * 2, level + 1
  end
  return level
end

-- "%d": a Lua number turned into a string by Redis would use "%.14g".
local function forward(level, hash)
  return base .. "f" .. level .. "." .. string.format("%d", hash % 2 ^ level)
end

local top = count > 0 and level_of(count - 1) or -1
local found, fresh, numbered = {}, {}, {}
for i = 5, #ARGV, 2 do
  local key, hash = ARGV[i], tonumber(ARGV[i + 1])
  local number = numbered[key] or false
  for level = 0, top do
    if number then break end
    number = redis.call("HGET", forward(level, hash), key)
  end
  if not number and create then
    -- A new id, numbered after the ids the bucket holds and those of this
    -- call before it (the same id twice in one call gets one number).
    number = string.format("%d", count + #fresh)
    fresh[#fresh + 1] = {key, hash}
  end
  numbered[key] = number
  found[#found + 1] = number and tonumber(number)
end
if #fresh > 0 then
  -- The count goes first, then each id's reverse entry, then its forward one:
  -- a script that fails part way (a key holding another type) leaves numbers
  -- unused, never one number on two ids, and no id the forward hashes find
  -- without its way back.
  redis.call("HSET", KEYS[1], "#", string.format("%d", count + #fresh))
  for j, entry in ipairs(fresh) do
    local number = count + j - 1
    local key, hash = entry[1], entry[2]
    local part = base .. "r" .. string.format("%d", math.floor(number / reverse))
    redis.call("HSET", part, string.format("%d", number % reverse), key)
    redis.call("HSET", forward(level_of(number), hash), key, string.format("%d", number))
  end
end
return found
