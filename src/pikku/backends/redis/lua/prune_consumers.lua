-- ARGV: P, idle_ms, owner... Removes the consumers of every queue's group that hold no entry and either
-- are one of the given owners (a closing queue's) or have been idle for idle_ms: every process start
-- adds a consumer, and nothing else ever removes one. Checked and removed in one script, so no entry can
-- be delivered to a consumer between the check and its removal; a live one is recreated by its next read.
local P, idle = ARGV[1], tonumber(ARGV[2])
local mine, removed = {}, 0
for i = 3, #ARGV do mine[ARGV[i]] = true end
for _, q in ipairs(redis.call('SMEMBERS', P .. ':queues')) do
  local stream = P .. ':q:' .. q
  local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', stream, GROUP)
  if ok then
    for _, c in ipairs(consumers) do
      local f = {}
      for j = 1, #c, 2 do f[c[j]] = c[j + 1] end
      if f['pending'] == 0 and (mine[f['name']] or f['idle'] >= idle) then
        redis.call('XGROUP', 'DELCONSUMER', stream, GROUP, f['name'])
        removed = removed + 1
      end
    end
  end
end
return removed
