-- ARGV: P, owner, lease_s, limit, queue... ('*' = every known queue). Rows: id, queue, payload, attempts,
-- run_at, lease deadline, priority.
local function ahead(a, b)
  if a[3] ~= b[3] then return a[3] < b[3] end
  if a[4] ~= b[4] then return a[4] < b[4] end
  return tonumber(a[2]) < tonumber(b[2])
end
local P, owner, lease, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t, ts = clock()
-- Candidates per queue: expired leases (reclaimable, earliest deadline first) and the first ready jobs
-- by priority. Then the first `limit` overall by (priority, run_at, id), like the memory queue.
-- Candidate: {queue, id, priority, run_at, entry id (a reclaim) | false, ready member | false}.
local cands = {}
for _, q in ipairs(queues_of(P, 5)) do
  promote(P, q, t)
  adopt(P, q)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':l:' .. q, '-inf', fmt(t), 'LIMIT', 0, limit)) do
    local y, r, e = unpack(redis.call('HMGET', P .. ':j:' .. id, 'y', 'r', 'e'))
    cands[#cands + 1] = {q, id, tonumber(y or r), tonumber(r), e, false}
  end
  local rz = redis.call('ZRANGE', P .. ':r:' .. q, 0, limit - 1, 'WITHSCORES')
  for i = 1, #rz, 2 do
    local m = rz[i]
    cands[#cands + 1] = {q, member_id(m), tonumber(rz[i + 1]), member_run_at(m), false, m}
  end
end
table.sort(cands, ahead)
local fresh, take = {}, {}
for i = 1, math.min(limit, #cands) do
  local c = cands[i]
  local q, id = c[1], c[2]
  local stream = P .. ':q:' .. q
  if c[6] then
    -- Off the ready set onto the stream, read below by this owner: the entry becomes its pending one.
    redis.call('ZREM', P .. ':r:' .. q, c[6])
    if redis.call('EXISTS', stream) == 0 then
      redis.call('XGROUP', 'CREATE', stream, GROUP, '$', 'MKSTREAM')
    end
    redis.call('HSET', P .. ':j:' .. id, 'e', redis.call('XADD', stream, '*', 'j', id))
    redis.call('HDEL', P .. ':j:' .. id, 'm')
    fresh[q] = (fresh[q] or 0) + 1
  else
    redis.call('XCLAIM', stream, GROUP, owner, 0, c[5])
  end
  take[#take + 1] = {q, id}
end
-- Nothing on a stream is undelivered but what was just appended, so these reads return exactly those.
for q, k in pairs(fresh) do
  redis.call('XREADGROUP', 'GROUP', GROUP, owner, 'COUNT', k, 'STREAMS', P .. ':q:' .. q, '>')
end
local deadline = fmt(t + lease)
local out = {}
for _, tk in ipairs(take) do
  local q, id = tk[1], tk[2]
  local jk = P .. ':j:' .. id
  local a = redis.call('HINCRBY', jk, 'a', 1)
  redis.call('HSET', jk, 'o', owner, 'u', deadline)
  redis.call('ZADD', P .. ':l:' .. q, deadline, id)
  local p, r, y, k = unpack(redis.call('HMGET', jk, 'p', 'r', 'y', 'k'))
  if k then forget_key(P, q, id, k) end  -- claimed: a new job with its key is a job of its own
  out[#out + 1] = {id, q, p, a, r, deadline, y or r}
end
return out
