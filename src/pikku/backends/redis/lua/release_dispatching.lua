-- The end of a pass that dispatches a step its worker takes (Transitions.release_run_lock_dispatching).
-- ARGV: P, run_id, name, job queue, payload, delay, priority, key, take owner, take lease_s, step lease_s,
-- lock owner, waiting ('0'|'1'), ack id|'', ack owner, ack attempt, then field/value pairs of the new
-- step's other fields. The step is inserted claimed by the taker (see insert_step in state.lua) with its
-- job written claimed by the same owner, unless it exists (then nothing is written); then the pass's job
-- is acknowledged and the lock released. {-1} no run; else {1, job id|false, attempts, run_at, lease
-- deadline, the step's fields...}.
local P, run, name = ARGV[1], ARGV[2], ARGV[3]
local run_status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not run_status then return {-1} end
local t, ts = clock()
local out = {1, false, false, false, false}
if insert_step(P, run, run_status, name, 'running', ARGV[9], tonumber(ARGV[11]), 17, t, ts) then
  local job = take(P, ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10]), t, ts)
  out[2], out[3], out[4], out[5] = job[1], job[2], job[3], job[4]
end
ack_held(P, ARGV[14], ARGV[15], ARGV[16])
release_lock(P, run, ARGV[12], ARGV[13] == '1')
for i, value in ipairs(read_step(P .. ':steps:' .. run, name)) do out[5 + i] = value end
return out
