-- ARGV: P, then the statuses pikku knows. Returns {status, count, ...} for every status with runs: the
-- sizes of the P:idx:s:<status> index sets, for the known statuses and those P:idx:statuses names (a
-- keyspace written before that set existed holds only known statuses). O(number of statuses).
local P = ARGV[1]
local seen, out = {}, {}
local function add(status)
  if seen[status] then return end
  seen[status] = true
  local n = redis.call('ZCARD', P .. ':idx:s:' .. status)
  if n > 0 then
    out[#out + 1] = status
    out[#out + 1] = n
  end
end
for i = 2, #ARGV do add(ARGV[i]) end
for _, status in ipairs(redis.call('SMEMBERS', P .. ':idx:statuses')) do add(status) end
return out
