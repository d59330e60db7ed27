-- PLACEHOLDER, DELETE AT MERGE: version 7 belongs to a branch developed in parallel (this branch owns 0008).
-- It only keeps the numbering contiguous until that branch's 0007 is merged; it changes nothing.
SELECT 1;
