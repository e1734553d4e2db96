-- Issue 13 (grants): the audit events of machines (ONLINE 410, OFFLINE
-- 420, QUIESCE 430) and of job runs (START 210, FINISH 220, RECLAIM 240)
-- name the machine; every writer of them always did.  With the web's
-- role unable to name a machine in an event (roles.cfg), this is what
-- keeps it from forging them.  NOT VALID: rows written before are not
-- re-checked, so an upgrade never fails on old data.
ALTER TABLE codeimportevent ADD CONSTRAINT machine_and_job_events_name_a_machine
    CHECK (entry_type NOT IN (210, 220, 240, 410, 420, 430)
           OR machine IS NOT NULL) NOT VALID;
