-- ARGV: P, id. 1 the dead job is enqueued again (due now, never delivered: a new job with a new id, so no
-- claim of its old deliveries can touch it; a keyed one merges into the job waiting with its key, as any
-- keyed enqueue does), 0 no such dead job.
local P, id = ARGV[1], ARGV[2]
local xk = P .. ':x:' .. id
local q, payload, key = unpack(redis.call('HMGET', xk, 'q', 'p', 'k'))
if not q then return 0 end
redis.call('DEL', xk)
redis.call('ZREM', P .. ':dead', id)
local t, ts = clock()
enqueue(P, q, payload, 0, '', key or '', t, ts)
return 1
