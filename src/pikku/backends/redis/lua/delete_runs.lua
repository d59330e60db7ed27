-- ARGV: P, before, limit, check ('1' | '0'), status... Deletes up to `limit` runs of those statuses whose
-- last change (their settle) is before `before`, oldest first (ties: creation order), with their steps hash,
-- attempt lists, events, index entries and children index; returns {1, run ids...}. An unsettled run is never
-- deleted: only settled runs are in the P:idx:u:<status> indexes walked here, and each run's own status is
-- checked again.
-- With check '1', first {0, status...}: the statuses whose P:idx:u index lacks runs of P:idx:s (settled
-- by a pikku from before that index, see index_settled.lua), and nothing is deleted.
local P, before, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
if ARGV[4] == '1' then
  local missing = {0}
  for i = 5, #ARGV do
    if redis.call('ZCARD', P .. ':idx:u:' .. ARGV[i]) < redis.call('ZCARD', P .. ':idx:s:' .. ARGV[i]) then
      missing[#missing + 1] = ARGV[i]
    end
  end
  if #missing > 1 then return missing end
end
-- Candidates: the first `limit` of each status, each {run, updated, status, seq}.
local cands = {}
for i = 5, #ARGV do
  local status = ARGV[i]
  if SETTLED[status] then
    local z = redis.call('ZRANGEBYSCORE', P .. ':idx:u:' .. status, '-inf', '(' .. before, 'WITHSCORES', 'LIMIT', 0,
      limit)
    for j = 1, #z, 2 do
      local seq = redis.call('HGET', P .. ':run:' .. z[j], 'seq') or '0'
      cands[#cands + 1] = {z[j], tonumber(z[j + 1]), status, tonumber(seq)}
    end
  end
end
table.sort(cands, function(a, b)
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[4] < b[4]
end)
local deleted = {1}
for i = 1, math.min(limit, #cands) do
  local run, status = cands[i][1], cands[i][3]
  local rk = P .. ':run:' .. run
  local current, workflow, seq, parent = unpack(redis.call('HMGET', rk, 'status', 'workflow', 'seq', 'parent'))
  redis.call('ZREM', P .. ':idx:u:' .. status, run)
  if current == status then
    local sk = P .. ':steps:' .. run
    for name in pairs(step_statuses(sk)) do redis.call('DEL', attempts_key(P, run, name)) end
    local ek = events_key(P, run)
    for name in pairs(event_names(ek)) do redis.call('DEL', waiting_events_key(P, run, name)) end
    redis.call('DEL', sk, rk, ek, P .. ':children:' .. run)
    if parent then redis.call('ZREM', P .. ':children:' .. parent, run) end
    redis.call('ZREM', P .. ':idx', run)
    redis.call('ZREM', P .. ':idx:w:' .. workflow, run)
    index(P, 'rem', run, status, workflow, seq)
    deleted[#deleted + 1] = run
  end
end
return deleted
