-- GCRA, one atomic decision per call (EVALSHA), for llmward.ratelimit.redis_backend.
--
-- KEYS[1]  the bucket. Its value is the theoretical arrival time (TAT): integer ns since the
--          Unix epoch, in decimal. It expires when the bucket is full again.
-- ARGV[1]  cost * T in ns (T: the emission interval); any value over tau is refused
-- ARGV[2]  tau = burst * T, in ns
-- ARGV[3]  "1": take the tokens (acquire); "0": only look (peek)
-- ARGV[4]  optional, for tests only: the time to decide at, ns since the epoch. Without it the
--          server's TIME decides, so replicas whose own clocks disagree share one clock.
-- Returns {1 if allowed else 0, max(TAT, now) - now before this decision, ns in decimal}: the
-- client derives every field of the Decision from that, as the reference GCRA does.
--
-- Lua numbers are doubles, exact only up to 2^53 (104 days of ns), so every time is held as
-- whole seconds and nanoseconds (s, n), 0 <= n < 1e9: all sums and comparisons stay exact.

local E9 = 1000000000

local function parse(text)
  if type(text) ~= 'string' or #text > 20 or not string.find(text, '^%d+$') then
    error('llmward gcra: not a time in ns: ' .. string.sub(tostring(text), 1, 32))
  end
  if #text <= 9 then return 0, tonumber(text) end
  return tonumber(string.sub(text, 1, -10)), tonumber(string.sub(text, -9))
end

local function add(as, an, bs, bn)
  local s, n = as + bs, an + bn
  if n >= E9 then return s + 1, n - E9 end
  return s, n
end

local function sub(as, an, bs, bn)
  local s, n = as - bs, an - bn
  if n < 0 then return s - 1, n + E9 end
  return s, n
end

local function format(s, n)  -- s >= 0
  if s == 0 then return string.format('%d', n) end
  return string.format('%d%09d', s, n)
end

-- Redis before 5 replicates scripts verbatim, which forbids writing after TIME; since 7 a no-op.
if redis.replicate_commands then redis.replicate_commands() end

local now_s, now_n
if ARGV[4] then
  now_s, now_n = parse(ARGV[4])
else
  local t = redis.call('TIME')
  now_s, now_n = tonumber(t[1]), tonumber(t[2]) * 1000
end
local cost_s, cost_n = parse(ARGV[1])
local tau_s, tau_n = parse(ARGV[2])

-- d = max(TAT, now) - now: how far the bucket is from full. No key: a full bucket.
local d_s, d_n = 0, 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local tat_s, tat_n = parse(stored)
  d_s, d_n = sub(tat_s, tat_n, now_s, now_n)
  if d_s < 0 then d_s, d_n = 0, 0 end
end

-- Allowed when the new TAT is at most tau ahead of now.
local next_s, next_n = add(d_s, d_n, cost_s, cost_n)
if next_s > tau_s or (next_s == tau_s and next_n > tau_n) then
  return {0, format(d_s, d_n)}
end
if ARGV[3] == '1' and (cost_s > 0 or cost_n > 0) then
  local tat_s, tat_n = add(now_s, now_n, next_s, next_n)
  -- Expires when the bucket is full again, rounded up to a whole ms: never earlier, so an
  -- expired key always was a full bucket.
  local ttl_ms = next_s * 1000 + math.ceil(next_n / 1000000)
  redis.call('SET', KEYS[1], format(tat_s, tat_n), 'PX', string.format('%d', ttl_ms))
end
return {1, format(d_s, d_n)}
