-- ARGV: P, run_id, status, output_json|'', error_json|'', cancel reason|''. 1 settled (the run lock cleared: a
-- settled run needs none), 0 already settled, -1 no run. Any unsettled run settles (running, waiting,
-- suspended). The run joins its status's P:idx:u index, scored by the time it settled (delete_runs walks it
-- oldest first).
local P, run, status = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. ':run:' .. run
local current, workflow, seq = unpack(redis.call('HMGET', rk, 'status', 'workflow', 'seq'))
if not current then return -1 end
if SETTLED[current] then return 0 end
local _, ts = clock()
redis.call('HSET', rk, 'status', status, 'updated_at', ts)
redis.call('HDEL', rk, 'lock_owner', 'lock_until')
for i, f in ipairs({'output', 'error', 'cancel_reason'}) do
  if ARGV[3 + i] ~= '' then redis.call('HSET', rk, f, ARGV[3 + i]) else redis.call('HDEL', rk, f) end
end
index(P, 'rem', run, current, workflow, seq)
index(P, 'add', run, status, workflow, seq)
redis.call('ZADD', P .. ':idx:u:' .. status, ts, run)
return 1
