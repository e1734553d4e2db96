-- Issue 13: outages never cost work.  The scheduler service records here
-- that it can reach the database (`codeimport.model.reachability`); the
-- watchdog and getJobForMachine measure a job's or a machine's silence
-- only from when the service last became reachable (`rules.py`).
CREATE TABLE codeimportservice (
    id integer PRIMARY KEY CONSTRAINT one_row CHECK (id = 1),
    date_last_seen timestamptz NOT NULL,
    date_reachable_since timestamptz NOT NULL
);

COMMENT ON TABLE codeimportservice IS
    'One row: when the scheduler service last reached the database, and since when it has done so without a gap.';
COMMENT ON COLUMN codeimportservice.date_last_seen IS
    'The last time a scheduler service process wrote here.';
COMMENT ON COLUMN codeimportservice.date_reachable_since IS
    'The end of the last outage: when the service wrote after a gap longer than service_outage_after; -infinity if none was seen.';
