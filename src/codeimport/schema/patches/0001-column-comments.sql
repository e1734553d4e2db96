-- Patch 0001: one comment per column, equal to the interface field's
-- description (tests/test_schema.py keeps the two in step).

COMMENT ON COLUMN codeimport.review_status IS 'Only reviewed imports are processed.';
COMMENT ON COLUMN codeimport.rcs_type IS 'The version-control system of the source.';
COMMENT ON COLUMN codeimport.target_rcs_type IS 'The kind of repository the import writes.';
COMMENT ON COLUMN codeimport.url IS 'The source URL (not for CVS); no trailing slash.';
COMMENT ON COLUMN codeimport.cvs_root IS 'The CVSROOT of a CVS source.';
COMMENT ON COLUMN codeimport.cvs_module IS 'The module of a CVS source.';
COMMENT ON COLUMN codeimport.date_last_successful IS 'When the last successful run finished.';
COMMENT ON COLUMN codeimport.update_interval IS 'Time between runs; None means the default for the source type.';
COMMENT ON COLUMN codeimportjob.date_due IS 'The job runs once this moment has passed.';
COMMENT ON COLUMN codeimportjob.state IS 'The current state of the job.';
COMMENT ON COLUMN codeimportjob.ordering IS 'Unused; kept for compatibility.';
COMMENT ON COLUMN codeimportjob.heartbeat IS 'When the running job last said it was alive.';
COMMENT ON COLUMN codeimportjob.logtail IS 'The last few lines of output of the running job.';
COMMENT ON COLUMN codeimportjob.date_started IS 'When the job started running.';
COMMENT ON COLUMN codeimportmachine.hostname IS 'The machine''s unique host name.';
COMMENT ON COLUMN codeimportmachine.state IS 'Whether the machine accepts jobs.';
COMMENT ON COLUMN codeimportmachine.heartbeat IS 'When the controller daemon last said it was running.';
COMMENT ON COLUMN codeimportevent.date_created IS 'When the event happened (transaction time).';
COMMENT ON COLUMN codeimportresult.date_created IS 'When the run finished.';
COMMENT ON COLUMN codeimportresult.log_excerpt IS 'The last lines of output, copied from the job.';
COMMENT ON COLUMN codeimportresult.date_job_started IS 'When the run started.';
COMMENT ON COLUMN branch.unique_name IS '~owner/project/name; unique across all branches.';
COMMENT ON COLUMN branch.url IS 'Where a MIRRORED branch is pulled from.';
COMMENT ON COLUMN branch.last_mirrored IS 'When the last successful mirror started.';
COMMENT ON COLUMN branch.last_mirrored_id IS 'The tip revision id at the last successful mirror.';
COMMENT ON COLUMN branch.last_mirror_attempt IS 'When mirroring last started.';
COMMENT ON COLUMN branch.mirror_failures IS 'Failed mirror attempts since the last success.';
COMMENT ON COLUMN branch.mirror_status_message IS 'The reason the last mirror attempt failed.';
COMMENT ON COLUMN branch.next_mirror_time IS 'When the puller should next mirror it; None: never.';
COMMENT ON COLUMN person.name IS 'The unique short name, as in ~name.';
COMMENT ON COLUMN person.displayname IS 'The name shown to people.';
COMMENT ON COLUMN person.email IS 'The preferred email address, if any.';
COMMENT ON COLUMN person.is_team IS 'Whether this is a team of people.';
