-- ARGV: P, id, owner, attempt, reason. 1 the job is dead, 0 the lease was lost. A dead job leaves every
-- queue set and the stream (so no claim and no count sees it again) for its own hash P:x:<id> (queue,
-- payload, attempts, key, reason, time) and the P:dead set, scored by the time it died.
local P, id = ARGV[1], ARGV[2]
local jk, q, entry, key = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
unlease(P, jk, id, q, entry)
forget_key(P, q, id, key)
local _, ts = clock()
local payload, attempts = unpack(redis.call('HMGET', jk, 'p', 'a'))
local xk = P .. ':x:' .. id
redis.call('HSET', xk, 'q', q, 'p', payload, 'a', attempts, 'why', ARGV[5], 't', ts)
if key then redis.call('HSET', xk, 'k', key) end
redis.call('DEL', jk)
redis.call('ZADD', P .. ':dead', ts, id)
return 1
