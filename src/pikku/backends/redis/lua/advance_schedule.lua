-- ARGV: P, name, expected last tick ('' : none handled yet), tick, run_id ('' : keep the stored one).
-- 1 advanced, 0 the stored last tick is not the expected one (another worker moved the schedule on first).
-- Ticks are compared as the text Python wrote (repr of a float), so no float goes through Lua.
local P, name, expected, tick, run = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = P .. ':sched:' .. name
if (redis.call('HGET', key, 'last') or '') ~= expected then return 0 end
redis.call('HSET', key, 'last', tick)
if run ~= '' then redis.call('HSET', key, 'run', run) end
return 1
