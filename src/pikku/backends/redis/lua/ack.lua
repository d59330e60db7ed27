-- ARGV: P, id, owner, attempt. 1 acknowledged (the job is gone), 0 the lease was lost.
return ack_held(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) and 1 or 0
