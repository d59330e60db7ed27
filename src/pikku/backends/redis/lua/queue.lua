-- The queue's building blocks: the ready, delayed and lease sets, the stream, keyed jobs.
local GROUP = 'pikku'
-- A job delayed at least this long is enqueued (or released) without a wake-up message (see
-- pikku.backends._wakeup.QUIET_DELAY_S; tests/backends/test_redis_scripts.py keeps the two equal).
local QUIET_DELAY_S = 5.0
local function pad(s, n) return string.rep('0', n - #s) .. s end
-- A due job onto the ready set: scored by its priority (a job from before priorities: its due time).
local function ready(P, q, id)
  local jk = P .. ':j:' .. id
  local r, y = unpack(redis.call('HMGET', jk, 'r', 'y'))
  local m = pad(r, 20) .. ':' .. pad(id, 20)
  y = y or r
  redis.call('HSET', jk, 'y', y, 'm', m)
  redis.call('ZADD', P .. ':r:' .. q, y, m)
end
local function member_id(m) return tostring(tonumber(string.sub(m, 22))) end
local function member_run_at(m) return tonumber(string.sub(m, 1, 20)) end
-- Move due delayed jobs onto the ready set.
local function promote(P, q, t)
  local dk = P .. ':d:' .. q
  local due = redis.call('ZRANGEBYSCORE', dk, '-inf', fmt(t), 'LIMIT', 0, 5000)
  for _, id in ipairs(due) do
    ready(P, q, id)
    redis.call('ZREM', dk, id)
  end
end
local function announce(P, q, delay)
  if delay < QUIET_DELAY_S then redis.call('PUBLISH', P .. ':wake', q) end
end

-- Keyed jobs: P:k:<queue> maps each key to the id of its waiting job (never claimed, or released). A
-- claim removes the key (a claimed job absorbs nothing); a release puts it back, or merges.
local function waiting_id(P, q, key)
  local id = redis.call('HGET', P .. ':k:' .. q, key)
  if id and redis.call('HEXISTS', P .. ':j:' .. id, 'u') == 0 and redis.call('EXISTS', P .. ':j:' .. id) == 1 then
    return id
  end
  return nil
end
-- The job (claimed, or gone) no longer waits under its key.
local function forget_key(P, q, id, key)
  if key and redis.call('HGET', P .. ':k:' .. q, key) == id then redis.call('HDEL', P .. ':k:' .. q, key) end
end
-- The waiting job takes the earlier due time r and the lower priority y (both '%.6f'-style strings).
local function merge(P, q, id, r, y)
  local jk = P .. ':j:' .. id
  local old_r, old_y, m = unpack(redis.call('HMGET', jk, 'r', 'y', 'm'))
  old_y = old_y or old_r
  if tonumber(r) >= tonumber(old_r) then r = old_r end
  if tonumber(y) >= tonumber(old_y) then y = old_y end
  if r == old_r and y == old_y then return end
  redis.call('HSET', jk, 'r', r, 'y', y)
  if m then  -- on the ready set: its member and score follow the new values
    redis.call('ZREM', P .. ':r:' .. q, m)
    ready(P, q, id)
  else  -- delayed: a due time now past is promoted by the next claim
    redis.call('ZADD', P .. ':d:' .. q, r, id)
  end
end

-- ARGV-style strings: delay in seconds, priority ('' = the due time), key ('' = none).
local function enqueue(P, q, payload, delay, priority, key, t, ts)
  local r = ts
  if delay > 0 then r = fmt(t + delay) end
  if priority == '' then priority = r end
  if key ~= '' then
    local waiting = waiting_id(P, q, key)
    if waiting then
      merge(P, q, waiting, r, priority)
      announce(P, q, delay)
      return waiting
    end
  end
  local id = tostring(redis.call('INCR', P .. ':jobseq'))
  local jk = P .. ':j:' .. id
  redis.call('SADD', P .. ':queues', q)
  redis.call('HSET', jk, 'q', q, 'p', payload, 'r', r, 'y', priority, 'a', '0')
  if key ~= '' then
    redis.call('HSET', jk, 'k', key)
    redis.call('HSET', P .. ':k:' .. q, key, id)
  end
  if delay > 0 then redis.call('ZADD', P .. ':d:' .. q, r, id) else ready(P, q, id) end
  announce(P, q, delay)
  return id
end
local function queues_of(P, first)
  if ARGV[first] == '*' then return redis.call('SMEMBERS', P .. ':queues') end
  local qs = {}
  for i = first, #ARGV do qs[#qs + 1] = ARGV[i] end
  return qs
end
-- The job hash, its queue, stream entry and key if this claim (owner and delivery number) still holds the
-- lease; an expired lease that nobody reclaimed yet still counts.
local function held(P, id, owner, attempt)
  local jk = P .. ':j:' .. id
  local o, u, q, e, a, k = unpack(redis.call('HMGET', jk, 'o', 'u', 'q', 'e', 'a', 'k'))
  if o ~= owner or not u or a ~= attempt then return nil end
  return jk, q, e, k or nil
end
local function unlease(P, jk, id, q, entry)
  local stream = P .. ':q:' .. q
  redis.call('XACK', stream, GROUP, entry)
  redis.call('XDEL', stream, entry)
  redis.call('ZREM', P .. ':l:' .. q, id)
end

local function last_delivered(stream)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    if name == GROUP then return last end
  end
  return '0-0'
end
-- Every stream entry is a leased job (so XLEN equals the lease set's size) unless the stream holds
-- undelivered entries written before priorities existed: those move to the ready set.
local function adopt(P, q)
  local stream = P .. ':q:' .. q
  if redis.call('XLEN', stream) <= redis.call('ZCARD', P .. ':l:' .. q) then return end
  for _, ent in ipairs(redis.call('XRANGE', stream, '(' .. last_delivered(stream), '+')) do
    local id = ent[2][2]
    redis.call('XDEL', stream, ent[1])
    if redis.call('EXISTS', P .. ':j:' .. id) == 1 then
      redis.call('HDEL', P .. ':j:' .. id, 'e')
      ready(P, q, id)
    end
  end
end
-- A job written claimed by `owner` for `lease` seconds (a local hand-off): what enqueue and then a claim of
-- this job alone would leave, without the ready set, the key's waiting entry or a wake-up (nobody else may
-- claim it). Its key stays on the job, so a release puts it back like any claimed keyed job's.
-- Returns {id, attempts, run_at, lease deadline}.
local function take(P, q, payload, delay, priority, key, owner, lease, t, ts)
  local r = ts
  if delay > 0 then r = fmt(t + delay) end
  if priority == '' then priority = r end
  local id = tostring(redis.call('INCR', P .. ':jobseq'))
  local jk = P .. ':j:' .. id
  local stream = P .. ':q:' .. q
  local deadline = fmt(t + lease)
  redis.call('SADD', P .. ':queues', q)
  redis.call('HSET', jk, 'q', q, 'p', payload, 'r', r, 'y', priority, 'a', '1', 'o', owner, 'u', deadline)
  if key ~= '' then redis.call('HSET', jk, 'k', key) end
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, GROUP, '$', 'MKSTREAM')
  end
  adopt(P, q)  -- undelivered entries from before priorities go to the ready set, as a claim moves them
  -- As a claim does: the entry appended and read at once by this owner (nothing else is undelivered).
  redis.call('HSET', jk, 'e', redis.call('XADD', stream, '*', 'j', id))
  redis.call('XREADGROUP', 'GROUP', GROUP, owner, 'COUNT', 1, 'STREAMS', stream, '>')
  redis.call('ZADD', P .. ':l:' .. q, deadline, id)
  return {id, '1', r, deadline}
end
-- Acknowledge the job `id` for the claim (owner, attempt) that returned it ('' id: none): whether it was.
local function ack_held(P, id, owner, attempt)
  if id == '' then return false end
  local jk, q, entry, key = held(P, id, owner, attempt)
  if not jk then return false end
  unlease(P, jk, id, q, entry)
  forget_key(P, q, id, key)
  redis.call('DEL', jk)
  return true
end
