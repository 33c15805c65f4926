-- Applies one unit of a bulk write (see redis_writes.py) to the keys of one
-- shard; sent after undo.lua. A key of the wrong type fails the unit with nothing in it written
-- (see below). Bitmaps built by the client arrive in scratch keys, SET in the
-- same MULTI just before this script: passing 128 KiB through ARGV costs the
-- server several times more than a SET. Every scratch key is deleted before
-- returning, error or not.
--
-- KEYS: the bitmaps and registry sets the unit writes, and its scratch keys.
-- ARGV: pairs: an operation followed by the indices in KEYS of the keys it
-- writes (as in "11,2,5"), and an operand:
--   "1" / "0"  set / clear bits: the operand is the offsets, four bytes each,
--              least significant first
--   "|" / "-"  OR in / clear the bits of a bitmap (one key): the operand is the
--              index in KEYS of the scratch key that holds it
--   "s"        add members to a registry set (one key): the operand is the
--              members, separated by spaces

local expected = {["1"] = true, ["0"] = true, ["|"] = true, ["-"] = true,
                  s = true}

local ops, targets = {}, {}
for i = 1, #ARGV, 2 do
  ops[i] = string.sub(ARGV[i], 1, 1)
  targets[i] = {}
  for index in string.gmatch(string.sub(ARGV[i], 2), "%d+") do
    table.insert(targets[i], KEYS[tonumber(index)])
  end
end

local function drop_scratch()
  for i = 1, #ARGV, 2 do
    if ops[i] == "|" or ops[i] == "-" then
      redis.call("DEL", KEYS[tonumber(ARGV[i + 1])])
    end
  end
end

-- Merging bitmaps cannot be undone cheaply, so their keys are checked first.
for i = 1, #ARGV, 2 do
  if expected[ops[i]] == nil then
    drop_scratch()
    return redis.error_reply("ERR bitmapist write: no operation " .. ARGV[i])
  end
  if ops[i] == "|" or ops[i] == "-" then
    local key = targets[i][1]
    local found = redis.call("TYPE", key)["ok"]
    if found ~= "none" and found ~= "string" then
      drop_scratch()
      return redis.error_reply("WRONGTYPE bitmapist write: " .. key
        .. " holds a " .. found .. ", not a string")
    end
  end
end

-- Bits and registry members go first, each change remembered, so that an
-- error (a key of the wrong type) undoes them all: checking every key's type
-- beforehand would cost a mark more than the writes themselves.
local function fail(err)
  undo_all()
  drop_scratch()
  return redis.error_reply(err)
end

for i = 1, #ARGV, 2 do
  local op, operand = ops[i], ARGV[i + 1]
  for _, key in ipairs(targets[i]) do
    if op == "1" or op == "0" then
      local bit = tonumber(op)
      -- A bitmap this unit creates is undone by deleting it.
      local created = redis.call("EXISTS", key) == 0
      if created then remember("key", key) end
      for j = 1, #operand, 4 do
        local a, b, c, d = string.byte(operand, j, j + 3)
        local offset = a + b * 256 + c * 65536 + d * 16777216
        local old = redis.pcall("SETBIT", key, offset, bit)
        if type(old) == "table" then return fail(old.err) end
        if old ~= bit and not created then remember("bit", key, offset, old) end
      end
    elseif op == "s" then
      for member in string.gmatch(operand, "%S+") do
        local added = redis.pcall("SADD", key, member)
        if type(added) == "table" then return fail(added.err) end
        if added == 1 then remember("member", key, member) end
      end
      -- Units carry no deadlines: a period registry that an instance with
      -- expiry gave one lives for ever now, as its new bitmaps do.
      redis.call("PERSIST", key)
    end
  end
end

for i = 1, #ARGV, 2 do
  local op, operand, key = ops[i], ARGV[i + 1], targets[i][1]
  if op == "|" and redis.call("EXISTS", key) == 0 then
    -- A new bitmap is the bits themselves: RENAME moves them, no copy.
    redis.call("RENAME", KEYS[tonumber(operand)], key)
  elseif op == "|" then
    redis.call("BITOP", "OR", key, key, KEYS[tonumber(operand)])
  elseif op == "-" then
    -- key - bits == key XOR (key AND bits): no BITOP NOT, whose meaning
    -- would depend on string lengths.
    local bits = KEYS[tonumber(operand)]
    redis.call("BITOP", "AND", bits, bits, key)
    redis.call("BITOP", "XOR", key, key, bits)
  end
end
drop_scratch()
return #ARGV / 2
