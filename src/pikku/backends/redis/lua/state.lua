-- The state's building blocks: step fields, attempts, run indexes.
-- Step hash fields ('<step>:<field>'), in the order every step-returning script reports them (the same
-- list as pikku.backends.redis.scripts.STEP_FIELDS; tests/backends/test_redis_scripts.py keeps them equal).
local STEP_FIELDS = {'form', 'status', 'rpc', 'data', 'result', 'rtype', 'error', 'attempts', 'max', 'wake',
  'lowner', 'luntil', 'created', 'updated', 'seq'}
local function read_step(sk, name)
  local fields = {}
  for i, f in ipairs(STEP_FIELDS) do fields[i] = name .. ':' .. f end
  return redis.call('HMGET', sk, unpack(fields))
end
local function attempts_key(P, run, name) return P .. ':att:' .. #run .. ':' .. run .. ':' .. name end
-- The settled run statuses (a run of any other status goes on, or waits for its resume).
local SETTLED = {completed = true, failed = true, cancelled = true}
-- A run's events: one hash, P:ev:<run>, fields '<seq>:name', '<seq>:payload', '<seq>:at', '<seq>:id' (an
-- event_id), '<seq>:by' (the step that took it), 'id:<event_id>' -> seq, and the '#n' counter. The seqs of
-- the events of one name no step has taken yet wait in a list (first in, first out).
local function events_key(P, run) return P .. ':ev:' .. run end
local function waiting_events_key(P, run, name) return P .. ':evq:' .. #run .. ':' .. run .. ':' .. name end
-- Every event name of an events hash (its '<seq>:name' fields' values).
local function event_names(ek)
  local names, flat = {}, redis.call('HGETALL', ek)
  for i = 1, #flat, 2 do
    if string.sub(flat[i], -5) == ':name' and not string.find(flat[i], '^id:') then names[flat[i + 1]] = true end
  end
  return names
end
-- P:idx:statuses names every status ever indexed, so count_runs.lua finds a status it was not told of.
local function index(P, op, run, status, workflow, seq)
  for _, key in ipairs({P .. ':idx:s:' .. status, P .. ':idx:ws:' .. status .. ':' .. workflow}) do
    if op == 'add' then redis.call('ZADD', key, seq, run) else redis.call('ZREM', key, run) end
  end
  if op == 'add' then redis.call('SADD', P .. ':idx:statuses', status) end
end
-- Every step of a steps hash: name -> status (a step's fields are '<name>:<field>'; only its status field
-- ends in ':status', whatever the name holds).
local function step_statuses(sk)
  local found, flat = {}, redis.call('HGETALL', sk)
  for i = 1, #flat, 2 do
    if string.sub(flat[i], -7) == ':status' then found[string.sub(flat[i], 1, -8)] = flat[i + 1] end
  end
  return found
end

-- The run hash's fields every run-returning script reports (pikku.backends.redis.store._RUN_FIELDS), then
-- the lock and the sequence: HMGET's reply v, whose first 11 entries are the run's.
local RUN_READ = {'workflow', 'status', 'input', 'output', 'error', 'created_at', 'updated_at', 'parent',
  'forked_from', 'cancel_reason', 'resumes', 'lock_owner', 'lock_until', 'seq'}
-- Take the run lock for `owner` (the caller checked that it may); a waiting run is running again, its
-- index entries moved, and v (the run as RUN_READ read it) says so.
local function take_lock(P, run, rk, v, owner, lease, t)
  redis.call('HSET', rk, 'lock_owner', owner, 'lock_until', fmt(t + lease))
  if v[2] == 'waiting' then
    redis.call('HSET', rk, 'status', 'running')
    index(P, 'rem', run, 'waiting', v[1], v[14])
    index(P, 'add', run, 'running', v[1], v[14])
    v[2] = 'running'
  end
end
-- Free the run lock if `owner` holds it; with `waiting`, a running run is left waiting (its pass paused
-- with nothing to do but wait).
local function release_lock(P, run, owner, waiting)
  local rk = P .. ':run:' .. run
  local workflow, lock_owner, status, seq = unpack(redis.call('HMGET', rk, 'workflow', 'lock_owner', 'status', 'seq'))
  if not workflow or lock_owner ~= owner then return end
  redis.call('HDEL', rk, 'lock_owner', 'lock_until')
  if waiting and status == 'running' then
    redis.call('HSET', rk, 'status', 'waiting')
    index(P, 'rem', run, 'running', workflow, seq)
    index(P, 'add', run, 'waiting', workflow, seq)
  end
end
-- Insert a step unless it exists: true when inserted. ARGV from `first` on: field/value pairs of its other
-- fields. A step inserted 'done' (an inline step) counts as one finished attempt; one inserted 'running' is
-- claimed by `owner` for `lease` seconds: one open attempt, just what a claim leaves. Like a claim, that
-- needs an unsettled run: for a settled one the step goes in 'pending'.
local function insert_step(P, run, run_status, name, status, owner, lease, first, t, ts)
  local sk = P .. ':steps:' .. run
  if redis.call('HEXISTS', sk, name .. ':status') == 1 then return false end
  if status == 'running' and SETTLED[run_status] then status = 'pending' end
  local started = status == 'done' or status == 'running'
  local args = {name .. ':seq', redis.call('HINCRBY', sk, '#n', 1), name .. ':created', ts, name .. ':updated', ts,
    name .. ':status', status, name .. ':attempts', started and '1' or '0'}
  for i = first, #ARGV, 2 do
    args[#args + 1] = name .. ':' .. ARGV[i]
    args[#args + 1] = ARGV[i + 1]
  end
  local ak = attempts_key(P, run, name)
  if status == 'done' then redis.call('RPUSH', ak, ts .. '\t' .. ts .. '\t') end
  if status == 'running' then
    args[#args + 1] = name .. ':lowner'
    args[#args + 1] = owner
    args[#args + 1] = name .. ':luntil'
    args[#args + 1] = fmt(t + lease)
    redis.call('RPUSH', ak, ts)
  end
  redis.call('HSET', sk, unpack(args))
  return true
end
-- Settle a step (done, failed, or back to scheduled for a retry) and end its open attempt. ARGV from
-- `first` on: (op, field, value) triples, op 's' set / 'd' delete. 1 | 0 (already done/failed, or
-- `guarded` and not running under `owner`'s claim) | -1 no run | -2 no step.
local function settle_step(P, run, name, status, err, guarded, owner, first, ts)
  if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return -1 end
  local sk = P .. ':steps:' .. run
  local current, lease_owner = unpack(redis.call('HMGET', sk, name .. ':status', name .. ':lowner'))
  if not current then return -2 end
  if current == 'done' or current == 'failed' then return 0 end
  if guarded and (current ~= 'running' or lease_owner ~= owner) then return 0 end
  redis.call('HSET', sk, name .. ':status', status, name .. ':updated', ts)
  redis.call('HDEL', sk, name .. ':lowner', name .. ':luntil')
  for i = first, #ARGV, 3 do
    if ARGV[i] == 's' then
      redis.call('HSET', sk, name .. ':' .. ARGV[i + 1], ARGV[i + 2])
    else
      redis.call('HDEL', sk, name .. ':' .. ARGV[i + 1])
    end
  end
  local ak = attempts_key(P, run, name)
  local last = redis.call('LINDEX', ak, -1)
  if last and not string.find(last, '\t', 1, true) then
    redis.call('LSET', ak, -1, last .. '\t' .. ts .. '\t' .. err)
  end
  return 1
end
