-- ARGV: P, run_id, step, name. The event step takes the oldest event called `name` that no step has taken:
-- the event marked taken by the step, the step done with the event's payload as its result. {1, step
-- fields...} taken now; {0, step fields...} the step was done or failed already (nothing taken); {2} no such
-- event waits (nothing changed); {-1} no run; {-2} no step.
local P, run, step, name = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return {-1} end
local sk = P .. ':steps:' .. run
local status = redis.call('HGET', sk, step .. ':status')
if not status then return {-2} end
if status == 'done' or status == 'failed' then return {0, unpack(read_step(sk, step))} end
local seq = redis.call('LPOP', waiting_events_key(P, run, name))
if not seq then return {2} end
local ek = events_key(P, run)
local payload = redis.call('HGET', ek, seq .. ':payload')
redis.call('HSET', ek, seq .. ':by', step)
local _, ts = clock()
redis.call('HSET', sk, step .. ':status', 'done', step .. ':result', payload, step .. ':updated', ts)
redis.call('HDEL', sk, step .. ':rtype', step .. ':error', step .. ':lowner', step .. ':luntil')
return {1, unpack(read_step(sk, step))}
