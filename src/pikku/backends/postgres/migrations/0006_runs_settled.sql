-- delete_runs (prune): settled runs of one status, least recently changed first, read off this index
-- slice by slice. Partial: a running run has no entry, so creating a run writes none; settling a run
-- (already a non-HOT update, status being indexed) writes one more index entry.
CREATE INDEX runs_settled ON runs (status, updated_at, seq) WHERE status <> 'running';
