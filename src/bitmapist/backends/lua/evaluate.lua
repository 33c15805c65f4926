-- Evaluates one expression over the keys of one shard, or of several shards
-- of one server, in one call, leaving no key behind: intermediate results go
-- to the scratch keys given after the leaves, which are deleted before
-- returning, error or not. Nothing else can see them: a script runs alone,
-- and its writes reach replicas and the append-only file only as a whole,
-- the deletions included, so they need no expiry.
--
-- KEYS: the leaf bitmaps of each shard, shard after shard, then the scratch
--       keys, which the shards use in turn.
-- ARGV[1]: "count" (BITCOUNT of the result), "get" (the result's string) or
--          "contains" (GETBIT at ARGV[2], from the leaves' bits, no scratch).
-- ARGV[2]: the offset for "contains".
-- ARGV[3]: how many of a shard's keys are leaves; "<leaves>:<shards>" when
--          KEYS holds several shards. Then "count" answers the sum over the
--          shards and "get" one string per shard.
-- ARGV[4...]: the expression in postfix: "<n>" pushes leaf n; "&<k>", "|<k>",
--          "^<k>", "-<k>" pop k operands and push AND, OR, XOR, or the first
--          minus the rest.

local mode = ARGV[1]
local offset = tonumber(ARGV[2])
local leaves, shards = string.match(ARGV[3], "^(%d+):?(%d*)$")
leaves = tonumber(leaves)
local several = shards ~= ""
shards = several and tonumber(shards) or 1
local first_scratch = leaves * shards
-- Where the leaves of the shard being evaluated start in KEYS.
local base = 0
-- How many scratch keys the shard has used, and the most any has.
local used, most = 0, 0

local function scratch()
  used = used + 1
  if used > most then most = used end
  return KEYS[first_scratch + used]
end

-- The operands of an operation are stack[lo..hi]; its result replaces them
-- at stack[lo]. One stack serves every shard.
local stack = {}

local function bitop(op, dest, lo, hi)
  redis.call("BITOP", op, dest, unpack(stack, lo, hi))
  return dest
end

local combine = {}

combine["&"] = function(lo, hi) return bitop("AND", scratch(), lo, hi) end
combine["|"] = function(lo, hi) return bitop("OR", scratch(), lo, hi) end
combine["^"] = function(lo, hi) return bitop("XOR", scratch(), lo, hi) end

-- a - (b | c ...) == a XOR (a AND (b | c ...)); BITOP NOT would depend on
-- string lengths, so it is never used.
combine["-"] = function(lo, hi)
  local first = stack[lo]
  local part = scratch()
  if hi == lo then
    return bitop("OR", part, lo, lo)
  end
  local rest = stack[lo + 1]
  if hi > lo + 1 then
    rest = bitop("OR", part, lo + 1, hi)
  end
  redis.call("BITOP", "AND", part, first, rest)
  local result = scratch()
  redis.call("BITOP", "XOR", result, first, part)
  return result
end

local truth = {}
truth["&"] = function(lo, hi)
  for i = lo, hi do if not stack[i] then return false end end
  return true
end
truth["|"] = function(lo, hi)
  for i = lo, hi do if stack[i] then return true end end
  return false
end
truth["^"] = function(lo, hi)
  local odd = false
  for i = lo, hi do if stack[i] then odd = not odd end end
  return odd
end
truth["-"] = function(lo, hi)
  if not stack[lo] then return false end
  for i = lo + 1, hi do if stack[i] then return false end end
  return true
end

-- The postfix program, read once for every shard: a step is a leaf's index,
-- or an operation's sign with its number of operands.
local steps = {}
for i = 4, #ARGV do
  local token = ARGV[i]
  local sign = string.sub(token, 1, 1)
  if combine[sign] then
    steps[#steps + 1] = {sign, tonumber(string.sub(token, 2))}
  else
    steps[#steps + 1] = {false, tonumber(token)}
  end
end

local operate = mode == "contains" and truth or combine

local function run()
  local top = 0
  for _, step in ipairs(steps) do
    local sign, n = step[1], step[2]
    if not sign then
      top = top + 1
      if mode == "contains" then
        stack[top] = redis.call("GETBIT", KEYS[base + n], offset) == 1
      else
        stack[top] = KEYS[base + n]
      end
    else
      top = top - n + 1
      stack[top] = operate[sign](top, top + n - 1)
    end
  end
  local result = stack[1]
  if mode == "contains" then
    return result and 1 or 0
  elseif mode == "count" then
    return redis.call("BITCOUNT", result)
  end
  return redis.call("GET", result) or ""
end

local answers = {}
local total = 0
local ok, err = pcall(function()
  for shard = 1, shards do
    base = (shard - 1) * leaves
    used = 0
    local answer = run()
    if mode == "count" then
      total = total + answer
    else
      answers[shard] = answer
    end
  end
end)
for i = 1, most do redis.call("DEL", KEYS[first_scratch + i]) end
if not ok then
  if type(err) == "table" and err.err then
    return redis.error_reply(err.err)
  end
  return redis.error_reply(tostring(err))
end
if mode == "count" then
  return total
elseif several then
  return answers
end
return answers[1]
