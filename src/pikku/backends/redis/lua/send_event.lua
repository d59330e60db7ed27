-- ARGV: P, run_id, name, payload_json, event_id|'', handoff? ('0'|'1'), queue, payload, delay, priority, key.
-- 1 stored (the next seq of the run's events, queued behind the others of its name), 2 a duplicate (the run
-- has an event with that event_id already: nothing stored), 0 the run has settled (nothing stored, nothing
-- enqueued), -1 no run. The hand-off (the run's wake-up) is enqueued unless the run has settled.
local P, run, name, event_id = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not status then return -1 end
if SETTLED[status] then return 0 end
local t, ts = clock()
local ek = events_key(P, run)
local result = 2
if event_id == '' or redis.call('HEXISTS', ek, 'id:' .. event_id) == 0 then
  local seq = redis.call('HINCRBY', ek, '#n', 1)
  redis.call('HSET', ek, seq .. ':name', name, seq .. ':payload', ARGV[4], seq .. ':at', ts)
  if event_id ~= '' then redis.call('HSET', ek, seq .. ':id', event_id, 'id:' .. event_id, seq) end
  redis.call('RPUSH', waiting_events_key(P, run, name), seq)
  result = 1
end
if ARGV[6] == '1' then enqueue(P, ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11], t, ts) end
return result
