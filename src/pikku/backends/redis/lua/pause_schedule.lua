-- ARGV: P, name, paused ('1' or '0'). 1 the flag changed, 0 it was set so already (none stored: not paused).
local key = ARGV[1] .. ':sched:' .. ARGV[2]
if (redis.call('HGET', key, 'paused') or '0') == ARGV[3] then return 0 end
redis.call('HSET', key, 'paused', ARGV[3])
return 1
