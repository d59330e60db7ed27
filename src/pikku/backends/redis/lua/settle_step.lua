-- ARGV: P, run_id, name, new status, error_json|'', handoff? ('0'|'1'), queue, payload, delay, priority,
-- key, owner guard? ('0'|'1'), owner, then (op, field, value) triples, op 's' set / 'd' delete.
-- 1 | 0 (already done/failed, or guarded and not running under that owner's claim) | -1 | -2.
local P, run, name, status, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return -1 end
local sk = P .. ':steps:' .. run
local current, lease_owner = unpack(redis.call('HMGET', sk, name .. ':status', name .. ':lowner'))
if not current then return -2 end
if current == 'done' or current == 'failed' then return 0 end
if ARGV[12] == '1' and (current ~= 'running' or lease_owner ~= ARGV[13]) then return 0 end
local t, ts = clock()
redis.call('HSET', sk, name .. ':status', status, name .. ':updated', ts)
redis.call('HDEL', sk, name .. ':lowner', name .. ':luntil')
for i = 14, #ARGV, 3 do
  if ARGV[i] == 's' then
    redis.call('HSET', sk, name .. ':' .. ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', sk, name .. ':' .. ARGV[i + 1])
  end
end
local ak = attempts_key(P, run, name)
local last = redis.call('LINDEX', ak, -1)
if last and not string.find(last, '\t', 1, true) then
  redis.call('LSET', ak, -1, last .. '\t' .. ts .. '\t' .. err)
end
if ARGV[6] == '1' then enqueue(P, ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11], t, ts) end
return 1
