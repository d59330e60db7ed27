-- ARGV: P, queue... Seconds until the earliest delayed job or lease deadline (no notice marks either).
local P, best = ARGV[1], nil
for _, q in ipairs(queues_of(P, 2)) do
  for _, key in ipairs({P .. ':d:' .. q, P .. ':l:' .. q}) do
    local z = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if z[2] and (best == nil or tonumber(z[2]) < best) then best = tonumber(z[2]) end
  end
end
if best == nil then return false end
return fmt(best - clock())
