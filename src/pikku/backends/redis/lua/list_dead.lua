-- ARGV: P, limit. Rows of the newest `limit` dead jobs: id, queue, payload, attempts, reason, time.
local P = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('ZREVRANGE', P .. ':dead', 0, tonumber(ARGV[2]) - 1)) do
  local q, p, a, why, t = unpack(redis.call('HMGET', P .. ':x:' .. id, 'q', 'p', 'a', 'why', 't'))
  if q then out[#out + 1] = {id, q, p, a, why, t} end
end
return out
