-- ARGV: P, run_id. 1 resumed, 0 the run is not failed, cancelled or suspended (nothing changed), -1 no run.
-- failed|cancelled|suspended -> running, its error and cancel reason cleared, its resume count up by one, out of its settled index; every failed step pending again
-- (error and lease cleared) with a fresh budget of as many attempts as it had, its attempt list kept.
local P, run = ARGV[1], ARGV[2]
local rk = P .. ':run:' .. run
local status, workflow, seq = unpack(redis.call('HMGET', rk, 'status', 'workflow', 'seq'))
if not status then return -1 end
if status ~= 'failed' and status ~= 'cancelled' and status ~= 'suspended' then return 0 end
local _, ts = clock()
redis.call('HSET', rk, 'status', 'running', 'updated_at', ts)
redis.call('HDEL', rk, 'error', 'output', 'cancel_reason')
redis.call('HINCRBY', rk, 'resumes', 1)
index(P, 'rem', run, status, workflow, seq)
redis.call('ZREM', P .. ':idx:u:' .. status, run)
index(P, 'add', run, 'running', workflow, seq)
local sk = P .. ':steps:' .. run
for name, step_status in pairs(step_statuses(sk)) do
  if step_status == 'failed' then
    redis.call('HINCRBY', sk, name .. ':max', redis.call('HGET', sk, name .. ':attempts'))
    redis.call('HSET', sk, name .. ':status', 'pending', name .. ':updated', ts)
    redis.call('HDEL', sk, name .. ':error', name .. ':lowner', name .. ':luntil')
  end
end
return 1
