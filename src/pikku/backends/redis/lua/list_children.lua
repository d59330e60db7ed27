-- ARGV: P, run_id. {-1} no such run; else {1, rows...}: the run's children in creation order (its
-- P:children:<run> index), each row the child's id, then the run fields as list_runs.lua reports them.
local P, parent = ARGV[1], ARGV[2]
if redis.call('EXISTS', P .. ':run:' .. parent) == 0 then return {-1} end
local out = {1}
for _, run in ipairs(redis.call('ZRANGE', P .. ':children:' .. parent, 0, -1)) do
  local v = redis.call('HMGET', P .. ':run:' .. run, 'workflow', 'status', 'input', 'output', 'error',
    'created_at', 'updated_at', 'parent', 'forked_from', 'cancel_reason', 'resumes')
  if v[1] then
    local row = {run}
    for i = 1, 11 do row[i + 1] = v[i] end
    out[#out + 1] = row
  end
end
return out
