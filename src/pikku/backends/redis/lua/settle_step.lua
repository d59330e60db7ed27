-- ARGV: P, run_id, name, new status, error_json|'', handoff? ('0'|'1'), queue, payload, delay, priority,
-- key, owner guard? ('0'|'1'), owner, then (op, field, value) triples, op 's' set / 'd' delete.
-- 1 | 0 (already done/failed, or guarded and not running under that owner's claim) | -1 | -2.
local P = ARGV[1]
local t, ts = clock()
local code = settle_step(P, ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[12] == '1', ARGV[13], 14, ts)
if code == 1 and ARGV[6] == '1' then enqueue(P, ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10], ARGV[11], t, ts) end
return code
