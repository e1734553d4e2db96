-- Credentials for private sources are kept apart from the source URL
-- (issue 13): the web role may write them and see that they exist, but
-- only the scheduler's role (importd), which hands them to the import
-- worker, may read them (column grants in roles.cfg).
CREATE TABLE codeimportsourcecredential (
    code_import integer PRIMARY KEY REFERENCES codeimport ON DELETE CASCADE,
    username text NOT NULL CHECK (username <> '' AND username NOT LIKE '%:%'),
    password text NOT NULL,
    date_changed timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
COMMENT ON TABLE codeimportsourcecredential IS
    'The user name and password an import worker gives its private source; never part of codeimport.url or cvs_root.';
COMMENT ON COLUMN codeimportsourcecredential.username IS
    'The user name for the source (for CVS, the CVSROOT''s user).';
COMMENT ON COLUMN codeimportsourcecredential.password IS
    'The password or token; readable only by the scheduler''s role, as is the user name.';
COMMENT ON COLUMN codeimportsourcecredential.date_changed IS
    'When the credentials were last set.';

-- Move credentials already stored in URLs and CVSROOTs out of them.
CREATE FUNCTION pg_temp.percent_decode(value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    result bytea := '';
    pos integer := 1;
BEGIN
    WHILE pos <= length(value) LOOP
        IF substr(value, pos, 1) = '%'
                AND substr(value, pos + 1, 2) ~ '^[0-9A-Fa-f]{2}$' THEN
            result := result || decode(substr(value, pos + 1, 2), 'hex');
            pos := pos + 3;
        ELSE
            result := result || convert_to(substr(value, pos, 1), 'UTF8');
            pos := pos + 1;
        END IF;
    END LOOP;
    RETURN convert_from(result, 'UTF8');
END $$;

CREATE TEMPORARY TABLE source_credential_split ON COMMIT DROP AS
SELECT id, parts[1] AS head, parts[2] AS userinfo, parts[3] AS tail
FROM (SELECT id, regexp_match(url,
        '^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@([^@/?#]*(?:[/?#].*)?)$')
        AS parts
      FROM codeimport WHERE url IS NOT NULL) matched
WHERE parts IS NOT NULL;

INSERT INTO codeimportsourcecredential (code_import, username, password)
SELECT id,
       pg_temp.percent_decode(split_part(userinfo, ':', 1)),
       CASE WHEN position(':' IN userinfo) > 0
            THEN pg_temp.percent_decode(
                substr(userinfo, position(':' IN userinfo) + 1))
            ELSE '' END
FROM source_credential_split
WHERE split_part(userinfo, ':', 1) <> '';

UPDATE codeimport SET url = split.head || split.tail
FROM source_credential_split split WHERE codeimport.id = split.id;

INSERT INTO codeimportsourcecredential (code_import, username, password)
SELECT id, parts[2], parts[3]
FROM (SELECT id, regexp_match(cvs_root, '^(:[a-z]+:)([^:@/]+):([^@/]*)(@.*)$')
        AS parts
      FROM codeimport WHERE cvs_root IS NOT NULL) matched
WHERE parts IS NOT NULL;

UPDATE codeimport
SET cvs_root = regexp_replace(cvs_root, '^(:[a-z]+:[^:@/]+):[^@/]*@', '\1@')
WHERE cvs_root ~ '^:[a-z]+:[^:@/]+:[^@/]*@';

-- The audit trail's snapshots of those URLs and roots (URL, OLD_URL,
-- CVS_ROOT, OLD_CVS_ROOT items) lose their credentials too.
UPDATE codeimporteventdata
SET data_value = regexp_replace(data_value,
    '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@', '\1')
WHERE data_type IN (240, 241) AND data_value ~ '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@';
UPDATE codeimporteventdata
SET data_value = regexp_replace(data_value, '^(:[a-z]+:[^:@/]+):[^@/]*@', '\1@')
WHERE data_type IN (220, 222) AND data_value ~ '^:[a-z]+:[^:@/]+:[^@/]*@';

DROP FUNCTION pg_temp.percent_decode(text);
