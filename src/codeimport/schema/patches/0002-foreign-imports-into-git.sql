-- Every source kind imports into a Git target now (issue 11): Subversion,
-- Mercurial, Bazaar and CVS histories are converted into Git, so the
-- pairing no longer requires a Git source for a Git target.
ALTER TABLE codeimport DROP CONSTRAINT valid_source_target_vcs_pairing;
ALTER TABLE codeimport ADD CONSTRAINT valid_source_target_vcs_pairing CHECK (
    target_rcs_type = 'BZR' OR rcs_type IN (1, 3, 4, 5, 6));
