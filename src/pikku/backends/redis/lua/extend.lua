-- ARGV: P, id, owner, attempt, lease_s. 1 extended, 0 the lease was lost.
local P, id = ARGV[1], ARGV[2]
local jk, q = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
local t = clock()
local deadline = fmt(t + tonumber(ARGV[5]))
redis.call('HSET', jk, 'u', deadline)
redis.call('ZADD', P .. ':l:' .. q, deadline, id)
return 1
