-- ARGV: P, run_id, owner, lease_s. The opening read of a replay pass: {-1} no run; {0, run fields...} when
-- the run is settled or suspended, or another owner's lock is live (the lock untouched); else the lock is
-- taken (as run_lock.lua's acquire), a waiting run is running again (its index entries moved), and {1, run
-- fields..., the steps hash as HGETALL's flat list}. Run fields: workflow, status, input, output, error,
-- created_at, updated_at, parent, forked_from, cancel_reason, resumes.
local P, owner = ARGV[1], ARGV[3]
local rk = P .. ':run:' .. ARGV[2]
local v = redis.call('HMGET', rk, unpack(RUN_READ))
local status, lock_owner, lock_until = v[2], v[12], v[13]
if not v[1] then return {-1} end
local t = clock()
local out = {0}
if (status == 'running' or status == 'waiting') and not (lock_owner and lock_owner ~= owner and tonumber(lock_until) > t) then
  take_lock(P, ARGV[2], rk, v, owner, tonumber(ARGV[4]), t)
  out[1] = 1
end
for i = 1, 11 do out[i + 1] = v[i] end  -- a missing field is nil: false in the reply
if out[1] == 1 then out[13] = redis.call('HGETALL', P .. ':steps:' .. ARGV[2]) end
return out
