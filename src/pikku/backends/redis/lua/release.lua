-- ARGV: P, id, owner, attempt, delay. 1 released, 0 the lease was lost. A keyed job whose key has a
-- waiting job merges into that one (the earlier due time, the lower priority) and is gone.
local P, id, delay = ARGV[1], ARGV[2], tonumber(ARGV[5])
local jk, q, entry, key = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
unlease(P, jk, id, q, entry)
redis.call('HDEL', jk, 'o', 'u', 'e')
-- The job keeps its priority (a job from before priorities: the due time it was first enqueued with).
if redis.call('HEXISTS', jk, 'y') == 0 then redis.call('HSET', jk, 'y', redis.call('HGET', jk, 'r')) end
local t, ts = clock()
local r = ts
if delay > 0 then r = fmt(t + delay) end
local waiting = key and waiting_id(P, q, key)
if waiting == id then waiting = nil end  -- never merge a job into itself
if waiting then
  merge(P, q, waiting, r, redis.call('HGET', jk, 'y'))
  redis.call('DEL', jk)
elseif delay > 0 then
  redis.call('HSET', jk, 'r', r)
  redis.call('ZADD', P .. ':d:' .. q, r, id)
else
  redis.call('HSET', jk, 'r', r)
  ready(P, q, id)
end
if key and not waiting then redis.call('HSET', P .. ':k:' .. q, key, id) end
announce(P, q, delay)
return 1
