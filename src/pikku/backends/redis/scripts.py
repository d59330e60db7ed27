"""The Lua scripts of the Redis backend: every conditional transition is one script, so it is atomic.

Key layout, all under the URL's ``prefix`` ``P`` (see :mod:`pikku.backends.redis.connection`):

* ``P:run:<run_id>``           hash of the run (+ ``seq``, ``lock_owner``, ``lock_until``)
* ``P:steps:<run_id>``         one hash for all steps of a run, fields ``<step>:<field>`` (+ ``#n`` counter),
                               so ``get_steps`` is a single HGETALL
* ``P:att:<len>:<run_id>:<step>`` list of attempts, ``started[\\tended\\terror_json]``
* ``P:idx``, ``P:idx:s:<status>``, ``P:idx:w:<workflow>``, ``P:idx:ws:<status>:<workflow>``
                               sorted sets of run ids scored by creation sequence (list_runs, newest first)
* ``P:r:<queue>``              ready (due, unleased) jobs, zset scored by priority; the member is the job's
                               zero-padded ``run_at:id``, so equal priorities go by (run_at, id)
* ``P:q:<queue>``              stream of delivered (leased) jobs (entry field ``j`` = job id), consumer group
                               ``pikku``: a claim appends the jobs it took and reads them at once, so the
                               group's pending list shows who holds what (XPENDING) and carries redelivery
* ``P:d:<queue>``              delayed jobs, zset scored by ``run_at``
* ``P:l:<queue>``              leased jobs, zset scored by lease deadline (``locked_until``)
* ``P:j:<id>``                 job hash: q(ueue) p(ayload) r(un_at) y (priority) a(ttempts) o(wner) u(ntil)
                               e(ntry id, while leased) m (ready-set member)
* ``P:queues``, ``P:jobseq``, ``P:runseq``; pub/sub channel ``P:wake`` (payload: queue name)

Why a ready zset and not stream order: a stream is FIFO and ``XREADGROUP`` delivers only its next entries,
so picking by priority from the stream would mean scanning every undelivered entry on each claim. The zset
gives the lowest priorities in O(log n); the stream keeps only what the consumer group is good at (the
pending list of leased jobs). Streams written before priorities existed (undelivered entries on the stream)
are adopted into the ready set by the first claim that sees them.

Times are the Redis server clock (``TIME``), kept as ``%.6f`` strings: Lua would print numbers with 14
significant digits and lose the microseconds, so no float is ever handed to ``redis.call`` as a number.
Scripts build their keys from ``P`` (standalone Redis; on a cluster use a ``{hash-tag}`` prefix).
"""

from __future__ import annotations

from pikku.backends._wakeup import QUIET_DELAY_S

_COMMON = r"""
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000, t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
local function fmt(x) return string.format('%.6f', x) end
"""

# -- queue -----------------------------------------------------------------------------------------

# A job delayed at least QUIET_DELAY_S is enqueued (or released) without a wake-up message: see pikku.backends._wakeup.
_QUEUE = r"""
local GROUP = 'pikku'
local QUIET_DELAY_S = <quiet>
local function pad(s, n) return string.rep('0', n - #s) .. s end
-- A due job onto the ready set: scored by its priority (a job from before priorities: its due time).
local function ready(P, q, id)
  local jk = P .. ':j:' .. id
  local v = redis.call('HMGET', jk, 'r', 'y')
  local y, m = v[2] or v[1], pad(v[1], 20) .. ':' .. pad(id, 20)
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
-- ARGV-style strings: delay in seconds, priority ('' = the due time).
local function enqueue(P, q, payload, delay, priority, t, ts)
  local id = tostring(redis.call('INCR', P .. ':jobseq'))
  local jk = P .. ':j:' .. id
  local r = ts
  if delay > 0 then r = fmt(t + delay) end
  if priority == '' then priority = r end
  redis.call('SADD', P .. ':queues', q)
  redis.call('HSET', jk, 'q', q, 'p', payload, 'r', r, 'y', priority, 'a', '0')
  if delay > 0 then redis.call('ZADD', P .. ':d:' .. q, r, id) else ready(P, q, id) end
  if delay < QUIET_DELAY_S then redis.call('PUBLISH', P .. ':wake', q) end
  return id
end
local function queues_of(P, first)
  if ARGV[first] == '*' then return redis.call('SMEMBERS', P .. ':queues') end
  local qs = {}
  for i = first, #ARGV do qs[#qs + 1] = ARGV[i] end
  return qs
end
-- The job hash if this claim (owner and delivery number) still holds the lease; an expired lease that
-- nobody reclaimed yet still counts.
local function held(P, id, owner, attempt)
  local jk = P .. ':j:' .. id
  local v = redis.call('HMGET', jk, 'o', 'u', 'q', 'e', 'a')
  if v[1] ~= owner or not v[2] or v[5] ~= attempt then return nil end
  return jk, v[3], v[4]
end
local function unlease(P, jk, id, q, entry)
  local stream = P .. ':q:' .. q
  redis.call('XACK', stream, GROUP, entry)
  redis.call('XDEL', stream, entry)
  redis.call('ZREM', P .. ':l:' .. q, id)
end
""".replace("<quiet>", repr(QUIET_DELAY_S))

# ARGV: P, queue, payload, delay, priority ('' = the due time)
ENQUEUE = (
    _COMMON
    + _QUEUE
    + r"""
local t, ts = clock()
return enqueue(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], t, ts)
"""
)

# ARGV: P, owner, lease_s, limit, queue... ('*' = every known queue). Rows: id, queue, payload, attempts,
# run_at, lease deadline, priority.
CLAIM = (
    _COMMON
    + _QUEUE
    + r"""
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
local function ahead(a, b)
  if a[3] ~= b[3] then return a[3] < b[3] end
  if a[4] ~= b[4] then return a[4] < b[4] end
  return tonumber(a[2]) < tonumber(b[2])
end
local P, owner, lease, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t, ts = clock()
-- Candidates per queue: expired leases (reclaimable, earliest deadline first) and the first ready jobs
-- by priority. Then the first `limit` overall by (priority, run_at, id), like the memory queue.
-- Candidate: {queue, id, priority, run_at, entry id (a reclaim) | false, ready member | false}.
local cands = {}
for _, q in ipairs(queues_of(P, 5)) do
  promote(P, q, t)
  adopt(P, q)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':l:' .. q, '-inf', fmt(t), 'LIMIT', 0, limit)) do
    local v = redis.call('HMGET', P .. ':j:' .. id, 'y', 'r', 'e')
    cands[#cands + 1] = {q, id, tonumber(v[1] or v[2]), tonumber(v[2]), v[3], false}
  end
  local rz = redis.call('ZRANGE', P .. ':r:' .. q, 0, limit - 1, 'WITHSCORES')
  for i = 1, #rz, 2 do
    local m = rz[i]
    cands[#cands + 1] = {q, member_id(m), tonumber(rz[i + 1]), member_run_at(m), false, m}
  end
end
table.sort(cands, ahead)
local fresh, take = {}, {}
for i = 1, math.min(limit, #cands) do
  local c = cands[i]
  local q, id = c[1], c[2]
  local stream = P .. ':q:' .. q
  if c[6] then
    -- Off the ready set onto the stream, read below by this owner: the entry becomes its pending one.
    redis.call('ZREM', P .. ':r:' .. q, c[6])
    if redis.call('EXISTS', stream) == 0 then
      redis.call('XGROUP', 'CREATE', stream, GROUP, '$', 'MKSTREAM')
    end
    redis.call('HSET', P .. ':j:' .. id, 'e', redis.call('XADD', stream, '*', 'j', id))
    redis.call('HDEL', P .. ':j:' .. id, 'm')
    fresh[q] = (fresh[q] or 0) + 1
  else
    redis.call('XCLAIM', stream, GROUP, owner, 0, c[5])
  end
  take[#take + 1] = {q, id}
end
-- Nothing on a stream is undelivered but what was just appended, so these reads return exactly those.
for q, k in pairs(fresh) do
  redis.call('XREADGROUP', 'GROUP', GROUP, owner, 'COUNT', k, 'STREAMS', P .. ':q:' .. q, '>')
end
local deadline = fmt(t + lease)
local out = {}
for _, tk in ipairs(take) do
  local q, id = tk[1], tk[2]
  local jk = P .. ':j:' .. id
  local a = redis.call('HINCRBY', jk, 'a', 1)
  redis.call('HSET', jk, 'o', owner, 'u', deadline)
  redis.call('ZADD', P .. ':l:' .. q, deadline, id)
  local v = redis.call('HMGET', jk, 'p', 'r', 'y')
  out[#out + 1] = {id, q, v[1], a, v[2], deadline, v[3] or v[2]}
end
return out
"""
)

# ARGV: P, id, owner, attempt
ACK = (
    _COMMON
    + _QUEUE
    + r"""
local P, id = ARGV[1], ARGV[2]
local jk, q, entry = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
unlease(P, jk, id, q, entry)
redis.call('DEL', jk)
return 1
"""
)

# ARGV: P, id, owner, attempt, delay
RELEASE = (
    _COMMON
    + _QUEUE
    + r"""
local P, id, delay = ARGV[1], ARGV[2], tonumber(ARGV[5])
local jk, q, entry = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
unlease(P, jk, id, q, entry)
redis.call('HDEL', jk, 'o', 'u', 'e')
-- The job keeps its priority (a job from before priorities: the due time it was first enqueued with).
if redis.call('HEXISTS', jk, 'y') == 0 then redis.call('HSET', jk, 'y', redis.call('HGET', jk, 'r')) end
local t, ts = clock()
if delay > 0 then
  local r = fmt(t + delay)
  redis.call('HSET', jk, 'r', r)
  redis.call('ZADD', P .. ':d:' .. q, r, id)
else
  redis.call('HSET', jk, 'r', ts)
  ready(P, q, id)
end
if delay < QUIET_DELAY_S then redis.call('PUBLISH', P .. ':wake', q) end
return 1
"""
)

# ARGV: P, id, owner, attempt, lease_s
EXTEND = (
    _COMMON
    + _QUEUE
    + r"""
local P, id = ARGV[1], ARGV[2]
local jk, q = held(P, id, ARGV[3], ARGV[4])
if not jk then return 0 end
local t = clock()
local deadline = fmt(t + tonumber(ARGV[5]))
redis.call('HSET', jk, 'u', deadline)
redis.call('ZADD', P .. ':l:' .. q, deadline, id)
return 1
"""
)

# ARGV: P, queue... ('*' = all). Jobs not acked: ready, on the stream (leased) or delayed.
COUNT = (
    _COMMON
    + _QUEUE
    + r"""
local P, n = ARGV[1], 0
for _, q in ipairs(queues_of(P, 2)) do
  n = n + redis.call('ZCARD', P .. ':r:' .. q) + redis.call('XLEN', P .. ':q:' .. q)
  n = n + redis.call('ZCARD', P .. ':d:' .. q)
end
return n
"""
)

# ARGV: P, queue... Seconds until the earliest delayed job or lease deadline (no notice marks either).
NEXT_DUE = (
    _COMMON
    + _QUEUE
    + r"""
local P, best = ARGV[1], nil
for _, q in ipairs(queues_of(P, 2)) do
  for _, key in ipairs({P .. ':d:' .. q, P .. ':l:' .. q}) do
    local z = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if z[2] and (best == nil or tonumber(z[2]) < best) then best = tonumber(z[2]) end
  end
end
if best == nil then return false end
return fmt(best - clock())
"""
)

# ARGV: P, idle_ms, owner... Removes the consumers of every queue's group that hold no entry and either
# are one of the given owners (a closing queue's) or have been idle for idle_ms: every process start
# adds a consumer, and nothing else ever removes one. Checked and removed in one script, so no entry can
# be delivered to a consumer between the check and its removal; a live one is recreated by its next read.
PRUNE_CONSUMERS = (
    _COMMON
    + _QUEUE
    + r"""
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
"""
)

# -- state -----------------------------------------------------------------------------------------

#: Step hash fields (``<step>:<field>``), in the order every step-returning script reports them.
# fmt: off
STEP_FIELDS = (
    "form", "status", "rpc", "data", "result", "rtype", "error", "attempts", "max", "wake", "lowner", "luntil",
    "created", "updated", "seq",
)
# fmt: on
_FIELD_LIST = ", ".join(f"'{f}'" for f in STEP_FIELDS)

_STATE = (
    r"""
local STEP_FIELDS = {"""
    + _FIELD_LIST
    + r"""}
local function read_step(sk, name)
  local fields = {}
  for i, f in ipairs(STEP_FIELDS) do fields[i] = name .. ':' .. f end
  return redis.call('HMGET', sk, unpack(fields))
end
local function attempts_key(P, run, name) return P .. ':att:' .. #run .. ':' .. run .. ':' .. name end
local function index(P, op, run, status, workflow, seq)
  for _, key in ipairs({P .. ':idx:s:' .. status, P .. ':idx:ws:' .. status .. ':' .. workflow}) do
    if op == 'add' then redis.call('ZADD', key, seq, run) else redis.call('ZREM', key, run) end
  end
end
"""
)

# ARGV: P, run_id, workflow, input_json, handoff? ('0'|'1'), queue, payload, delay, priority, lock owner|'',
# lock lease. Returns the creation time, or false when the id exists (then nothing is written and no job
# enqueued). With a lock owner the run is created holding its lock until creation time + lease.
CREATE_RUN = (
    _COMMON
    + _QUEUE
    + _STATE
    + r"""
local P, run, wf = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. ':run:' .. run
if redis.call('EXISTS', rk) == 1 then return false end
local t, ts = clock()
local seq = redis.call('INCR', P .. ':runseq')
redis.call('HSET', rk, 'workflow', wf, 'status', 'running', 'input', ARGV[4], 'created_at', ts,
  'updated_at', ts, 'seq', seq)
if ARGV[10] ~= '' then
  redis.call('HSET', rk, 'lock_owner', ARGV[10], 'lock_until', fmt(t + tonumber(ARGV[11])))
end
redis.call('ZADD', P .. ':idx', seq, run)
redis.call('ZADD', P .. ':idx:w:' .. wf, seq, run)
index(P, 'add', run, 'running', wf, seq)
if ARGV[5] == '1' then enqueue(P, ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], t, ts) end
return ts
"""
)

# ARGV: P, run_id, status, output_json|'', error_json|''. 1 settled (the run lock cleared: a settled run needs
# none), 0 already settled, -1 no run.
SETTLE_RUN = (
    _COMMON
    + _STATE
    + r"""
local P, run, status = ARGV[1], ARGV[2], ARGV[3]
local rk = P .. ':run:' .. run
local cur = redis.call('HMGET', rk, 'status', 'workflow', 'seq')
if not cur[1] then return -1 end
if cur[1] ~= 'running' then return 0 end
local _, ts = clock()
redis.call('HSET', rk, 'status', status, 'updated_at', ts)
redis.call('HDEL', rk, 'lock_owner', 'lock_until')
for i, f in ipairs({'output', 'error'}) do
  if ARGV[3 + i] ~= '' then redis.call('HSET', rk, f, ARGV[3 + i]) else redis.call('HDEL', rk, f) end
end
index(P, 'rem', run, 'running', cur[2], cur[3])
index(P, 'add', run, status, cur[2], cur[3])
return 1
"""
)

# ARGV: P, 'newest first' index key suffix, limit. Rows of run fields.
LIST_RUNS = r"""
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
    'created_at', 'updated_at')
  out[#out + 1] = {run, v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
end
return out
"""

# ARGV: P, run_id, owner, lease_s, mode ('acquire' | 'renew' | 'release'). 1 / 0, -1 no run.
RUN_LOCK = (
    _COMMON
    + r"""
local P, owner, mode = ARGV[1], ARGV[3], ARGV[5]
local rk = P .. ':run:' .. ARGV[2]
local v = redis.call('HMGET', rk, 'workflow', 'lock_owner', 'lock_until')
if not v[1] then return -1 end
if mode == 'release' then
  if v[2] == owner then redis.call('HDEL', rk, 'lock_owner', 'lock_until') end
  return 1
end
local t = clock()
if mode == 'acquire' and v[2] and v[2] ~= owner and tonumber(v[3]) > t then return 0 end
if mode == 'renew' and v[2] ~= owner then return 0 end
redis.call('HSET', rk, 'lock_owner', owner, 'lock_until', fmt(t + tonumber(ARGV[4])))
return 1
"""
)

# ARGV: P, run_id, owner, lease_s. The opening read of a replay pass: {-1} no run; {0, run fields...} when
# the run is settled or another owner's lock is live (the lock untouched); else the lock is taken (as
# RUN_LOCK's acquire) and {1, run fields..., the steps hash as HGETALL's flat list}. Run fields: workflow,
# status, input, output, error, created_at, updated_at.
LOCK_RUN = (
    _COMMON
    + r"""
local P, owner = ARGV[1], ARGV[3]
local rk = P .. ':run:' .. ARGV[2]
local v = redis.call('HMGET', rk, 'workflow', 'status', 'input', 'output', 'error', 'created_at', 'updated_at',
  'lock_owner', 'lock_until')
if not v[1] then return {-1} end
local out = {0, v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
local t = clock()
if v[2] ~= 'running' or (v[8] and v[8] ~= owner and tonumber(v[9]) > t) then return out end
redis.call('HSET', rk, 'lock_owner', owner, 'lock_until', fmt(t + tonumber(ARGV[4])))
out[1] = 1
out[9] = redis.call('HGETALL', P .. ':steps:' .. ARGV[2])
return out
"""
)

# ARGV: P, run_id, name, handoff? ('0'|'1'), queue, payload, delay, priority, status, claim owner|'', lease_s,
# then field/value pairs of the new step's other fields. {1, fields...} or {-1}. The hand-off job is enqueued
# only when this call inserted the step. A step inserted 'done' (an inline step) counts as one finished
# attempt; one inserted 'running' is claimed by the owner: one open attempt under its lease, just what a
# claim leaves. Like a claim, that needs a running run: for a settled one the step goes in 'pending'.
INSERT_STEP = (
    _COMMON
    + _QUEUE
    + _STATE
    + r"""
local P, run, name, status, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[9], ARGV[10]
local run_status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not run_status then return {-1} end
local sk = P .. ':steps:' .. run
if redis.call('HEXISTS', sk, name .. ':status') == 0 then
  local t, ts = clock()
  if status == 'running' and run_status ~= 'running' then status = 'pending' end
  local first = status == 'done' or status == 'running'
  local args = {name .. ':seq', redis.call('HINCRBY', sk, '#n', 1), name .. ':created', ts, name .. ':updated', ts,
    name .. ':status', status, name .. ':attempts', first and '1' or '0'}
  for i = 12, #ARGV, 2 do
    args[#args + 1] = name .. ':' .. ARGV[i]
    args[#args + 1] = ARGV[i + 1]
  end
  local ak = attempts_key(P, run, name)
  if status == 'done' then redis.call('RPUSH', ak, ts .. '\t' .. ts .. '\t') end
  if status == 'running' then
    args[#args + 1] = name .. ':lowner'
    args[#args + 1] = owner
    args[#args + 1] = name .. ':luntil'
    args[#args + 1] = fmt(t + tonumber(ARGV[11]))
    redis.call('RPUSH', ak, ts)
  end
  redis.call('HSET', sk, unpack(args))
  if ARGV[4] == '1' then enqueue(P, ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], t, ts) end
end
return {1, unpack(read_step(sk, name))}
"""
)

# ARGV: P, run_id, name, mode ('schedule' | 'claim'), owner, lease_s. {1, fields...} | {0} | {-1} | {-2}.
# A claim is {0} while the run is settled (completed, failed or cancelled): its steps are never claimed.
MOVE_STEP = (
    _COMMON
    + _STATE
    + r"""
local P, run, name, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local run_status = redis.call('HGET', P .. ':run:' .. run, 'status')
if not run_status then return {-1} end
local sk = P .. ':steps:' .. run
local st = redis.call('HMGET', sk, name .. ':status', name .. ':luntil')
if not st[1] then return {-2} end
local t, ts = clock()
if mode == 'schedule' then
  if st[1] ~= 'pending' then return {0} end
  redis.call('HSET', sk, name .. ':status', 'scheduled', name .. ':updated', ts)
  return {1}
end
if run_status ~= 'running' then return {0} end
local expired = st[1] == 'running' and tonumber(st[2] or '0') <= t
if st[1] ~= 'pending' and st[1] ~= 'scheduled' and not expired then return {0} end
redis.call('HINCRBY', sk, name .. ':attempts', 1)
redis.call('HSET', sk, name .. ':status', 'running', name .. ':lowner', ARGV[5],
  name .. ':luntil', fmt(t + tonumber(ARGV[6])), name .. ':updated', ts)
redis.call('RPUSH', attempts_key(P, run, name), ts)
return {1, unpack(read_step(sk, name))}
"""
)

# ARGV: P, run_id, name, owner, lease_s. 1 renewed | 0 (not running, or another owner's) | -1 | -2.
# The owner of a running step extends its lease even after it expired, as long as nobody took over.
RENEW_STEP = (
    _COMMON
    + r"""
local P, run, name = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return -1 end
local sk = P .. ':steps:' .. run
local st = redis.call('HMGET', sk, name .. ':status', name .. ':lowner')
if not st[1] then return -2 end
if st[1] ~= 'running' or st[2] ~= ARGV[4] then return 0 end
local t = clock()
redis.call('HSET', sk, name .. ':luntil', fmt(t + tonumber(ARGV[5])))
return 1
"""
)

# ARGV: P, run_id, name, new status, error_json|'', handoff? ('0'|'1'), queue, payload, delay, priority,
# owner guard? ('0'|'1'), owner, then (op, field, value) triples, op 's' set / 'd' delete.
# 1 | 0 (already done/failed, or guarded and not running under that owner's claim) | -1 | -2.
SETTLE_STEP = (
    _COMMON
    + _QUEUE
    + _STATE
    + r"""
local P, run, name, status, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', P .. ':run:' .. run) == 0 then return -1 end
local sk = P .. ':steps:' .. run
local cur = redis.call('HMGET', sk, name .. ':status', name .. ':lowner')
local st = cur[1]
if not st then return -2 end
if st == 'done' or st == 'failed' then return 0 end
if ARGV[11] == '1' and (st ~= 'running' or cur[2] ~= ARGV[12]) then return 0 end
local t, ts = clock()
redis.call('HSET', sk, name .. ':status', status, name .. ':updated', ts)
redis.call('HDEL', sk, name .. ':lowner', name .. ':luntil')
for i = 13, #ARGV, 3 do
  if ARGV[i] == 's' then
    redis.call('HSET', sk, name .. ':' .. ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', sk, name .. ':' .. ARGV[i + 1])
  end
end
local ak = attempts_key(P, run, name)
local last = redis.call('LINDEX', ak, -1)
if last and not string.find(last, '\t', 1, true) then
  redis.call('LSET', ak, -1, last .. '\t' .. ts .. '\t' .. err)
end
if ARGV[6] == '1' then enqueue(P, ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], t, ts) end
return 1
"""
)
