-- ARGV: P, status, after ('' = from the start), count. Brings up to `count` runs of P:idx:s:<status> (by
-- creation sequence, after `after`) into P:idx:u:<status>, scored by their last change: runs settled by a
-- pikku from before that index have no entry there. Returns the sequence to continue after, or '' at the end.
local P, status, count = ARGV[1], ARGV[2], tonumber(ARGV[4])
local uk = P .. ':idx:u:' .. status
local from = '-inf'
if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
local page = redis.call('ZRANGEBYSCORE', P .. ':idx:s:' .. status, from, '+inf', 'WITHSCORES', 'LIMIT', 0, count)
for i = 1, #page, 2 do
  local run = page[i]
  if not redis.call('ZSCORE', uk, run) then
    local current, updated = unpack(redis.call('HMGET', P .. ':run:' .. run, 'status', 'updated_at'))
    if current == status and updated then redis.call('ZADD', uk, updated, run) end
  end
end
if #page < 2 * count then return '' end
return page[#page]
