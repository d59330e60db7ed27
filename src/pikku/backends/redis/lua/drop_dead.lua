-- ARGV: P, id. 1 the dead job is deleted, 0 no such dead job.
local P, id = ARGV[1], ARGV[2]
if redis.call('DEL', P .. ':x:' .. id) == 0 then return 0 end
redis.call('ZREM', P .. ':dead', id)
return 1
