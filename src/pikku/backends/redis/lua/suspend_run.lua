-- ARGV: P, run_id, step name, data_json. 1 suspended, 0 the run is not running or waiting, or has a step of
-- that name (nothing changed), -1 no run. running|waiting -> suspended (updated_at set, index entries moved),
-- with the suspend step inserted done (result null, one finished attempt, as insert_step.lua's done steps).
local P, run, name = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. ':run:' .. run
local status, workflow, seq = unpack(redis.call('HMGET', rk, 'status', 'workflow', 'seq'))
if not status then return -1 end
if status ~= 'running' and status ~= 'waiting' then return 0 end
local sk = P .. ':steps:' .. run
if redis.call('HEXISTS', sk, name .. ':status') == 1 then return 0 end
local _, ts = clock()
redis.call('HSET', rk, 'status', 'suspended', 'updated_at', ts)
index(P, 'rem', run, status, workflow, seq)
index(P, 'add', run, 'suspended', workflow, seq)
redis.call('HSET', sk, name .. ':seq', redis.call('HINCRBY', sk, '#n', 1), name .. ':created', ts,
  name .. ':updated', ts, name .. ':status', 'done', name .. ':attempts', '1', name .. ':form', 'suspend',
  name .. ':data', ARGV[4], name .. ':result', 'null', name .. ':max', '1')
redis.call('RPUSH', attempts_key(P, run, name), ts .. '\t' .. ts .. '\t')
return 1
