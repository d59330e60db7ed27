-- ARGV: P, id, owner, attempt. 1 acknowledged (the job is gone), 0 the lease was lost.
local P, id = ARGV[1], ARGV[2]
local jk, q, entry, key = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
unlease(P, jk, id, q, entry)
forget_key(P, q, id, key)
redis.call('DEL', jk)
return 1
