-- ARGV: P, run_id, name, mode ('schedule' | 'claim'), owner, lease_s, form|''. {1, fields...} | {0} | {-1} |
-- {-2}. A claim is {0} while the run is settled (completed, failed or cancelled): its steps are never
-- claimed; with a form (a queue job claims only rpc steps), also for a step of another form.
local P, run, name, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local run_status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not run_status then return {-1} end
local sk = P .. ':steps:' .. run
local status, lease_until, form = unpack(redis.call('HMGET', sk, name .. ':status', name .. ':luntil', name .. ':form'))
if not status then return {-2} end
local t, ts = clock()
if mode == 'schedule' then
  if status ~= 'pending' then return {0} end
  redis.call('HSET', sk, name .. ':status', 'scheduled', name .. ':updated', ts)
  return {1}
end
if SETTLED[run_status] or (ARGV[7] ~= '' and form ~= ARGV[7]) then return {0} end
local expired = status == 'running' and tonumber(lease_until or '0') <= t
if status ~= 'pending' and status ~= 'scheduled' and not expired then return {0} end
redis.call('HINCRBY', sk, name .. ':attempts', 1)
redis.call('HSET', sk, name .. ':status', 'running', name .. ':lowner', ARGV[5],
  name .. ':luntil', fmt(t + tonumber(ARGV[6])), name .. ':updated', ts)
redis.call('RPUSH', attempts_key(P, run, name), ts)
return {1, unpack(read_step(sk, name))}
