-- ARGV: P, 'newest first' index key suffix, limit, the run to page after|''. Rows: run id, then the run
-- fields workflow, status, input, output, error, created_at, updated_at, parent, forked_from, cancel_reason,
-- resumes.
local P = ARGV[1]
local out = {}
local runs
if ARGV[4] ~= '' then  -- page after run ARGV[4]: every index is scored by the same creation sequence
  local seq = redis.call('ZSCORE', P .. ':idx', ARGV[4])
  if not seq then return out end
  runs = redis.call('ZREVRANGEBYSCORE', P .. ':idx' .. ARGV[2], '(' .. seq, '-inf', 'LIMIT', 0, tonumber(ARGV[3]))
else
  runs = redis.call('ZREVRANGE', P .. ':idx' .. ARGV[2], 0, tonumber(ARGV[3]) - 1)
end
for _, run in ipairs(runs) do
  local v = redis.call('HMGET', P .. ':run:' .. run, 'workflow', 'status', 'input', 'output', 'error',
    'created_at', 'updated_at', 'parent', 'forked_from', 'cancel_reason', 'resumes')
  local row = {run}
  for i = 1, 11 do row[i + 1] = v[i] end
  out[#out + 1] = row
end
return out
