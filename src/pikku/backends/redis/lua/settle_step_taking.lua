-- A queued step's settle that takes its hand-off (Transitions.settle_step_taking). ARGV: P, run_id, name,
-- new status, error_json|'', hand-off queue, payload, delay, priority, key, owner guard? ('0'|'1'), owner,
-- ack id|'', ack owner, ack attempt, take owner, take lease_s, lock lease_s|'', then (op, field, value)
-- triples as settle_step.lua's. The job given as ack is acknowledged whatever happens.
-- {code} when not settled (settle_step's 0 | -1 | -2); else {1, job id, attempts, run_at, lease deadline,
-- locked (0|1)}, and when locked (a lock lease given, the run running or waiting, its lock free: not even
-- its owner's, whose pass still runs) the lock is the taker's and the reply goes on with the run's 11
-- fields, its step count ('#n') and the settled step's fields.
local P, run, name = ARGV[1], ARGV[2], ARGV[3]
ack_held(P, ARGV[13], ARGV[14], ARGV[15])
local t, ts = clock()
local code = settle_step(P, run, name, ARGV[4], ARGV[5], ARGV[11] == '1', ARGV[12], 19, ts)
if code ~= 1 then return {code} end
local job = take(P, ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[16], tonumber(ARGV[17]), t, ts)
local out = {1, job[1], job[2], job[3], job[4], 0}
if ARGV[18] == '' then return out end
local rk = P .. ':run:' .. run
local v = redis.call('HMGET', rk, unpack(RUN_READ))
if v[2] ~= 'running' and v[2] ~= 'waiting' then return out end
if v[12] and tonumber(v[13]) > t then return out end
take_lock(P, run, rk, v, ARGV[16], tonumber(ARGV[18]), t)
out[6] = 1
for i = 1, 11 do out[6 + i] = v[i] end
local sk = P .. ':steps:' .. run
out[18] = redis.call('HGET', sk, '#n') or '0'
out[19] = read_step(sk, name)
return out
