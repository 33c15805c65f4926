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

local function key(n)
  return KEYS[base + n]
end

local function scratch()
  used = used + 1
  if used > most then most = used end
  return KEYS[first_scratch + used]
end

local function bitop(op, dest, sources)
  redis.call("BITOP", op, dest, unpack(sources))
  return dest
end

local combine = {}

combine["&"] = function(operands) return bitop("AND", scratch(), operands) end
combine["|"] = function(operands) return bitop("OR", scratch(), operands) end
combine["^"] = function(operands) return bitop("XOR", scratch(), operands) end

-- a - (b | c ...) == a XOR (a AND (b | c ...)); BITOP NOT would depend on
-- string lengths, so it is never used.
combine["-"] = function(operands)
  local first = operands[1]
  local rest = {unpack(operands, 2)}
  local part = scratch()
  if #rest == 0 then
    return bitop("OR", part, {first})
  end
  if #rest > 1 then
    bitop("OR", part, rest)
    rest = {part}
  end
  bitop("AND", part, {first, rest[1]})
  return bitop("XOR", scratch(), {first, part})
end

local truth = {}
truth["&"] = function(bits)
  for _, bit in ipairs(bits) do if not bit then return false end end
  return true
end
truth["|"] = function(bits)
  for _, bit in ipairs(bits) do if bit then return true end end
  return false
end
truth["^"] = function(bits)
  local odd = false
  for _, bit in ipairs(bits) do if bit then odd = not odd end end
  return odd
end
truth["-"] = function(bits)
  if not bits[1] then return false end
  for i = 2, #bits do if bits[i] then return false end end
  return true
end

local function run()
  local stack = {}
  for i = 4, #ARGV do
    local token = ARGV[i]
    local sign = string.sub(token, 1, 1)
    if combine[sign] then
      local k = tonumber(string.sub(token, 2))
      local operands = {}
      for j = #stack - k + 1, #stack do
        table.insert(operands, stack[j])
        stack[j] = nil
      end
      if mode == "contains" then
        table.insert(stack, truth[sign](operands))
      else
        table.insert(stack, combine[sign](operands))
      end
    elseif mode == "contains" then
      table.insert(stack, redis.call("GETBIT", key(tonumber(token)), offset) == 1)
    else
      table.insert(stack, key(tonumber(token)))
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
for shard = 1, shards do
  base = (shard - 1) * leaves
  used = 0
  local ok, answer = pcall(run)
  if not ok then
    for i = 1, most do redis.call("DEL", KEYS[first_scratch + i]) end
    if type(answer) == "table" and answer.err then
      return redis.error_reply(answer.err)
    end
    return redis.error_reply(tostring(answer))
  end
  if mode == "count" then
    total = total + answer
  else
    table.insert(answers, answer)
  end
end
for i = 1, most do redis.call("DEL", KEYS[first_scratch + i]) end
if mode == "count" then
  return total
elseif several then
  return answers
end
return answers[1]
