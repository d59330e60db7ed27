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
