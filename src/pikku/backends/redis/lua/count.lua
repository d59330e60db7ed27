-- ARGV: P, queue... ('*' = all). Jobs not acked: ready, on the stream (leased) or delayed.
local P, n = ARGV[1], 0
for _, q in ipairs(queues_of(P, 2)) do
  n = n + redis.call('ZCARD', P .. ':r:' .. q) + redis.call('XLEN', P .. ':q:' .. q)
  n = n + redis.call('ZCARD', P .. ':d:' .. q)
end
return n
