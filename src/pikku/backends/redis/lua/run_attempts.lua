-- ARGV: P, run_id. false when there is no such run; else {name, {attempt entries...}, ...} for every step,
-- in the order the steps were inserted (entries as in the P:att lists: started[\tended\terror_json]).
local P, run = ARGV[1], ARGV[2]
if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return false end
local sk = P .. ':steps:' .. run
local steps = {}
for name in pairs(step_statuses(sk)) do
  steps[#steps + 1] = {name, tonumber(redis.call('HGET', sk, name .. ':seq') or '0')}
end
table.sort(steps, function(a, b) return a[2] < b[2] end)
local out = {}
for _, step in ipairs(steps) do
  out[#out + 1] = step[1]
  out[#out + 1] = redis.call('LRANGE', attempts_key(P, run, step[1]), 0, -1)
end
return out
