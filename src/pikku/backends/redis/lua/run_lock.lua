-- ARGV: P, run_id, owner, lease_s, mode ('acquire' | 'renew' | 'release'), waiting ('0'|'1'). 1 / 0, -1 no
-- run. A release with waiting '1' leaves a running run waiting (its pass paused with nothing to do but
-- wait), only when the owner held the lock.
local P, owner, mode = ARGV[1], ARGV[3], ARGV[5]
local rk = P .. ':run:' .. ARGV[2]
local workflow, lock_owner, lock_until = unpack(redis.call('HMGET', rk, 'workflow', 'lock_owner', 'lock_until'))
if not workflow then return -1 end
if mode == 'release' then
  release_lock(P, ARGV[2], owner, ARGV[6] == '1')
  return 1
end
local t = clock()
if mode == 'acquire' and lock_owner and lock_owner ~= owner and tonumber(lock_until) > t then return 0 end
if mode == 'renew' and lock_owner ~= owner then return 0 end
redis.call('HSET', rk, 'lock_owner', owner, 'lock_until', fmt(t + tonumber(ARGV[4])))
return 1
