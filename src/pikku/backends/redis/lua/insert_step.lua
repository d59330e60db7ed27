-- ARGV: P, run_id, name, handoff? ('0'|'1'), queue, payload, delay, priority, key, status, claim owner|'',
-- lease_s, then field/value pairs of the new step's other fields. {1, fields...} or {-1}. The hand-off job
-- is enqueued only when this call inserted the step. A step inserted 'done' (an inline step) counts as one
-- finished attempt; one inserted 'running' is claimed by the owner: one open attempt under its lease, just
-- what a claim leaves. Like a claim, that needs an unsettled run: for a settled one the step goes in 'pending'.
local P, run, name, status, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[10], ARGV[11]
local run_status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not run_status then return {-1} end
local sk = P .. ':steps:' .. run
if redis.call('HEXISTS', sk, name .. ':status') == 0 then
  local t, ts = clock()
  if status == 'running' and SETTLED[run_status] then status = 'pending' end
  local first = status == 'done' or status == 'running'
  local args = {name .. ':seq', redis.call('HINCRBY', sk, '#n', 1), name .. ':created', ts, name .. ':updated', ts,
    name .. ':status', status, name .. ':attempts', first and '1' or '0'}
  for i = 13, #ARGV, 2 do
    args[#args + 1] = name .. ':' .. ARGV[i]
    args[#args + 1] = ARGV[i + 1]
  end
  local ak = attempts_key(P, run, name)
  if status == 'done' then redis.call('RPUSH', ak, ts .. '\t' .. ts .. '\t') end
  if status == 'running' then
    args[#args + 1] = name .. ':lowner'
    args[#args + 1] = owner
    args[#args + 1] = name .. ':luntil'
    args[#args + 1] = fmt(t + tonumber(ARGV[12]))
    redis.call('RPUSH', ak, ts)
  end
  redis.call('HSET', sk, unpack(args))
  if ARGV[4] == '1' then enqueue(P, ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9], t, ts) end
end
return {1, unpack(read_step(sk, name))}
