-- codeimport baseline schema (patch 0000).  Timestamps are stored with a
-- time zone and every session runs in UTC; UTC_NOW in the models is the
-- transaction's start time, so one transaction sees one "now".

CREATE TABLE person (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9+.-]*$'),
    displayname text NOT NULL,
    email text UNIQUE,
    is_team boolean NOT NULL DEFAULT false,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE teamparticipation (
    team integer NOT NULL REFERENCES person ON DELETE CASCADE,
    person integer NOT NULL REFERENCES person ON DELETE CASCADE,
    PRIMARY KEY (team, person)
);
CREATE INDEX teamparticipation__person__idx ON teamparticipation (person);

CREATE TABLE branch (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    owner integer NOT NULL REFERENCES person,
    project text NOT NULL,
    name text NOT NULL,
    unique_name text NOT NULL UNIQUE,
    branch_type integer NOT NULL CHECK (branch_type IN (1, 2, 3, 4)),
    url text,
    last_mirrored timestamptz,
    last_mirror_attempt timestamptz,
    mirror_failures integer NOT NULL DEFAULT 0,
    mirror_status_message text,
    last_mirrored_id text,
    next_mirror_time timestamptz,
    CONSTRAINT branch_type_url_consistent CHECK (
        (branch_type = 2 AND url IS NOT NULL)
        OR (branch_type IN (1, 3) AND url IS NULL)
        OR branch_type = 4),
    CONSTRAINT branch_url_no_trailing_slash CHECK (url IS NULL OR url NOT LIKE '%/')
);
CREATE INDEX branch__next_mirror_time__idx ON branch (next_mirror_time)
    WHERE next_mirror_time IS NOT NULL;
CREATE INDEX branch__owner__idx ON branch (owner);

CREATE TABLE codeimportmachine (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    hostname text NOT NULL CONSTRAINT codeimportmachine_hostname_key UNIQUE,
    state integer NOT NULL DEFAULT 10 CHECK (state IN (10, 20, 30)),
    heartbeat timestamptz
);

CREATE TABLE codeimport (
    id serial PRIMARY KEY,
    branch integer NOT NULL REFERENCES branch
        CONSTRAINT codeimport__branch__key UNIQUE,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    registrant integer NOT NULL REFERENCES person,
    owner integer NOT NULL REFERENCES person,
    assignee integer REFERENCES person,
    rcs_type integer NOT NULL,
    target_rcs_type text NOT NULL DEFAULT 'BZR'
        CHECK (target_rcs_type IN ('BZR', 'GIT')),
    cvs_root text,
    cvs_module text,
    url text,
    review_status integer NOT NULL DEFAULT 1
        CHECK (review_status IN (1, 10, 20, 30, 40)),
    date_last_successful timestamptz,
    update_interval interval,
    CONSTRAINT valid_source_target_vcs_pairing CHECK (
        target_rcs_type = 'BZR' OR rcs_type = 4),
    CONSTRAINT valid_vcs_details CHECK (CASE
        WHEN rcs_type = 1 THEN
            cvs_root IS NOT NULL AND cvs_root <> ''
            AND cvs_module IS NOT NULL AND cvs_module <> '' AND url IS NULL
        WHEN rcs_type IN (2, 3, 4, 5, 6) THEN
            cvs_root IS NULL AND cvs_module IS NULL AND url IS NOT NULL
        ELSE false
    END)
);
CREATE INDEX codeimport__owner__idx ON codeimport (owner);
CREATE INDEX codeimport__registrant__idx ON codeimport (registrant);
CREATE INDEX codeimport__assignee__idx ON codeimport (assignee);
CREATE UNIQUE INDEX codeimport__cvs_root__cvs_module__key
    ON codeimport (cvs_root, cvs_module) WHERE cvs_root IS NOT NULL;
CREATE UNIQUE INDEX codeimport__url__target__idx
    ON codeimport (url, target_rcs_type) WHERE url IS NOT NULL;
CREATE INDEX codeimport__review_status__idx ON codeimport (review_status);

CREATE TABLE codeimportjob (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    code_import integer NOT NULL REFERENCES codeimport
        CONSTRAINT codeimportjob__code_import__key UNIQUE,
    machine integer REFERENCES codeimportmachine,
    date_due timestamptz NOT NULL,
    state integer NOT NULL,
    requesting_user integer REFERENCES person,
    ordering integer,
    heartbeat timestamptz,
    logtail text,
    date_started timestamptz,
    CONSTRAINT valid_state CHECK (CASE
        WHEN state = 10 THEN
            machine IS NULL AND ordering IS NULL AND heartbeat IS NULL
            AND date_started IS NULL AND logtail IS NULL
        WHEN state = 20 THEN
            machine IS NOT NULL AND ordering IS NOT NULL AND heartbeat IS NULL
            AND date_started IS NULL AND logtail IS NULL
        WHEN state = 30 THEN
            machine IS NOT NULL AND ordering IS NULL
            AND heartbeat IS NOT NULL AND date_started IS NOT NULL
            AND logtail IS NOT NULL
        ELSE false
    END)
);
-- The claim query walks this index in order and stops at the first
-- unlocked due row, so its cost does not grow with the queue.
CREATE INDEX codeimportjob__pending__idx
    ON codeimportjob ((requesting_user IS NULL), date_due, id)
    WHERE state = 10;
CREATE INDEX codeimportjob__running_heartbeat__idx
    ON codeimportjob (heartbeat) WHERE state = 30;
CREATE INDEX codeimportjob__machine__date_created__idx
    ON codeimportjob (machine, date_created);
CREATE INDEX codeimportjob__requesting_user__idx
    ON codeimportjob (requesting_user);

CREATE TABLE libraryfilecontent (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    filesize integer NOT NULL,
    sha256 text NOT NULL,
    content bytea NOT NULL
);

CREATE TABLE libraryfilealias (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    content integer NOT NULL REFERENCES libraryfilecontent ON DELETE CASCADE,
    filename text NOT NULL,
    mimetype text NOT NULL
);
CREATE INDEX libraryfilealias__content__idx ON libraryfilealias (content);

CREATE TABLE codeimportresult (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    code_import integer REFERENCES codeimport ON DELETE CASCADE,
    machine integer REFERENCES codeimportmachine,
    requesting_user integer REFERENCES person,
    log_excerpt text,
    log_file integer REFERENCES libraryfilealias,
    status integer NOT NULL,
    date_job_started timestamptz
);
CREATE INDEX codeimportresult__code_import__date_created__idx
    ON codeimportresult (code_import, date_created);
CREATE INDEX codeimportresult__code_import__id__idx
    ON codeimportresult (code_import, id);
CREATE INDEX codeimportresult__log_file__idx ON codeimportresult (log_file);
CREATE INDEX codeimportresult__requesting_user__idx
    ON codeimportresult (requesting_user);

CREATE TABLE codeimportevent (
    id serial PRIMARY KEY,
    date_created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
    entry_type integer NOT NULL,
    code_import integer REFERENCES codeimport ON DELETE CASCADE,
    person integer REFERENCES person,
    machine integer REFERENCES codeimportmachine
);
CREATE INDEX codeimportevent__code_import__date_created__id__idx
    ON codeimportevent (code_import, date_created, id);
CREATE INDEX codeimportevent__date_created__id__idx
    ON codeimportevent (date_created, id);
CREATE INDEX codeimportevent__machine__date_created__idx
    ON codeimportevent (machine, date_created) WHERE machine IS NOT NULL;
CREATE INDEX codeimportevent__person__idx
    ON codeimportevent (person) WHERE person IS NOT NULL;

CREATE TABLE codeimporteventdata (
    id serial PRIMARY KEY,
    event integer REFERENCES codeimportevent ON DELETE CASCADE,
    data_type integer NOT NULL,
    data_value text,
    CONSTRAINT codeimporteventdata__event__data_type__key
        UNIQUE (event, data_type)
);

CREATE TABLE scriptactivity (
    id serial PRIMARY KEY,
    name text NOT NULL,
    hostname text NOT NULL,
    date_started timestamptz NOT NULL,
    date_completed timestamptz NOT NULL
);
CREATE INDEX scriptactivity__hostname__name__date_completed__idx
    ON scriptactivity (hostname, name, date_completed);
CREATE INDEX scriptactivity__name__date_started__idx
    ON scriptactivity (name, date_started);

COMMENT ON TABLE codeimportjob IS 'A pending or running update of one code import.';
COMMENT ON TABLE codeimportmachine IS 'A machine that runs code import jobs.';
COMMENT ON TABLE codeimportevent IS 'The audit trail of code imports and machines, written by the application.';
COMMENT ON TABLE codeimportresult IS 'The outcome of one finished or reclaimed job run.';
