-- ARGV: P, run_id, name, handoff? ('0'|'1'), queue, payload, delay, priority, key, status, claim owner|'',
-- lease_s, then field/value pairs of the new step's other fields. {1, fields...} or {-1}. The hand-off job
-- is enqueued only when this call inserted the step (see insert_step in state.lua for the statuses).
local P, run, name = ARGV[1], ARGV[2], ARGV[3]
local run_status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not run_status then return {-1} end
local t, ts = clock()
if insert_step(P, run, run_status, name, ARGV[10], ARGV[11], tonumber(ARGV[12]), 13, t, ts) and ARGV[4] == '1' then
  enqueue(P, ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], t, ts)
end
return {1, unpack(read_step(P .. ':steps:' .. run, name))}
