-- ARGV: P, run_id, owner, lease_s. The opening read of a replay pass: {-1} no run; {0, run fields...} when
-- the run is settled or suspended, or another owner's lock is live (the lock untouched); else the lock is
-- taken (as run_lock.lua's acquire), a waiting run is running again (its index entries moved), and {1, run
-- fields..., the steps hash as HGETALL's flat list}. Run fields: workflow, status, input, output, error,
-- created_at, updated_at, parent, forked_from, cancel_reason, resumes.
local P, owner = ARGV[1], ARGV[3]
local rk = P .. ':run:' .. ARGV[2]
local v = redis.call('HMGET', rk, 'workflow', 'status', 'input', 'output', 'error', 'created_at', 'updated_at',
  'parent', 'forked_from', 'cancel_reason', 'resumes', 'lock_owner', 'lock_until', 'seq')
local workflow, status, lock_owner, lock_until = v[1], v[2], v[12], v[13]
if not workflow then return {-1} end
local out = {0}  -- then the run fields, in the reply's order (a missing field is nil: false in the reply)
for i = 1, 11 do out[i + 1] = v[i] end
local t = clock()
if status ~= 'running' and status ~= 'waiting' then return out end
if lock_owner and lock_owner ~= owner and tonumber(lock_until) > t then return out end
redis.call('HSET', rk, 'lock_owner', owner, 'lock_until', fmt(t + tonumber(ARGV[4])))
if status == 'waiting' then
  redis.call('HSET', rk, 'status', 'running')
  index(P, 'rem', ARGV[2], 'waiting', workflow, v[14])
  index(P, 'add', ARGV[2], 'running', workflow, v[14])
  out[3] = 'running'
end
out[1] = 1
out[13] = redis.call('HGETALL', P .. ':steps:' .. ARGV[2])
return out
