-- ARGV: P, queue, payload, delay, priority ('' = the due time), key ('' = none). Returns the job's id (with
-- a key: the id of the waiting job it merged into, if there was one).
local t, ts = clock()
return enqueue(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6], t, ts)
