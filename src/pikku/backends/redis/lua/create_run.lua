-- ARGV: P, run_id, workflow, input_json, handoff? ('0'|'1'), queue, payload, delay, priority, key,
-- lock owner|'', lock lease, parent run id|'', forked from|''. Returns the creation time, or false when the
-- id exists (then nothing is written and no job enqueued). With a lock owner the run is created holding its
-- lock until creation time + lease. A child run (a parent run id) joins its parent's P:children:<parent>
-- index, scored by creation sequence (list_children).
local P, run, wf = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. ':run:' .. run
if redis.call('EXISTS', rk) == 1 then return false end
local t, ts = clock()
local seq = redis.call('INCR', P .. ':runseq')
redis.call('HSET', rk, 'workflow', wf, 'status', 'running', 'input', ARGV[4], 'created_at', ts,
  'updated_at', ts, 'seq', seq)
if ARGV[11] ~= '' then
  redis.call('HSET', rk, 'lock_owner', ARGV[11], 'lock_until', fmt(t + tonumber(ARGV[12])))
end
if ARGV[13] ~= '' then
  redis.call('HSET', rk, 'parent', ARGV[13])
  redis.call('ZADD', P .. ':children:' .. ARGV[13], seq, run)
end
if ARGV[14] ~= '' then redis.call('HSET', rk, 'forked_from', ARGV[14]) end
redis.call('ZADD', P .. ':idx', seq, run)
redis.call('ZADD', P .. ':idx:w:' .. wf, seq, run)
index(P, 'add', run, 'running', wf, seq)
if ARGV[5] == '1' then enqueue(P, ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10], t, ts) end
return ts
