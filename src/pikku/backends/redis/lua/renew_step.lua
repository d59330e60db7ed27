-- ARGV: P, run_id, name, owner, lease_s. 1 renewed | 0 (not running, or another owner's) | -1 | -2.
-- The owner of a running step extends its lease even after it expired, as long as nobody took over.
local P, run, name = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return -1 end
local sk = P .. ':steps:' .. run
local status, lease_owner = unpack(redis.call('HMGET', sk, name .. ':status', name .. ':lowner'))
if not status then return -2 end
if status ~= 'running' or lease_owner ~= ARGV[4] then return 0 end
local t = clock()
redis.call('HSET', sk, name .. ':luntil', fmt(t + tonumber(ARGV[5])))
return 1
