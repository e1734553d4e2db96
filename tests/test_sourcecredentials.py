"""Credentials of private sources: split off, stored apart, redacted.

The worker side (how each kind hands them to its tool, and that they
never reach ``ps`` or a log) is in ``tests/worker/test_private_sources.py``.
"""

from __future__ import annotations

import io

import psycopg2
import pytest
from scripthelpers import call
from scripthelpers import reload

from codeimport import database
from codeimport.enums import CodeImportEventType
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.model.sourcecredential import credentials_for
from codeimport.redact import redact
from codeimport.redact import redact_bytes
from codeimport.scripts import addimport
from codeimport.scripts import imports as imports_script
from codeimport.scripts import status as status_script
from codeimport.sourcecredentials import SourceCredentials
from codeimport.sourcecredentials import from_wire
from codeimport.sourcecredentials import read_file
from codeimport.sourcecredentials import split_cvs_root
from codeimport.sourcecredentials import split_url
from codeimport.sourcecredentials import to_wire
from codeimport.sourcecredentials import write_file
from codeimport.testing import postgres
from codeimport.xmlrpc.scheduler import CodeImportSchedulerAPI

_RCS = RevisionControlSystems
_GIT = TargetRevisionControlSystems.GIT
SECRET = "s3cr%t:p@ss"
PRIVATE = "https://alice:s3cr%25t%3Ap%40ss@git.example.org/private.git"
PLAIN = "https://git.example.org/private.git"


# -- redaction ---------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("Fetching https://alice:pw@host/x.git now",
     "Fetching https://***@host/x.git now"),
    ("'https://TOKEN@github.com/o/r'", "'https://***@github.com/o/r'"),
    ("svn://u:p@ss@host:3690/repo", "svn://***@host:3690/repo"),
    ("a http://h/x and https://u:p@h2/y", "a http://h/x and https://***@h2/y"),
    ("cvs -d :pserver:bob:hunter2@cvs.example.org:/cvs co m",
     "cvs -d :pserver:bob:***@cvs.example.org:/cvs co m"),
    (":pserver:anonymous@cvs.example.org:/cvs", None),
    ("Author: Alice <alice@example.org>", None),
    ("https://host/path?x=a@b", None),
])
def test_redact_hides_user_information_and_cvs_passwords(text, shown):
    assert redact(text) == (text if shown is None else shown)


def test_redact_hides_known_secrets_anywhere_and_keeps_bytes():
    assert redact("auth failed for hunter2 (hunter2)", ["hunter2", ""]) == (
        "auth failed for *** (***)")
    data = b"\xff\xfe binary https://u:p@h/ and hunter2\n"
    assert redact_bytes(data, ["hunter2"]) == (
        b"\xff\xfe binary https://***@h/ and ***\n")


# -- splitting ---------------------------------------------------------------

def test_split_url_takes_the_percent_decoded_credentials_out():
    url, credentials = split_url(PRIVATE)
    assert url == PLAIN
    assert credentials == SourceCredentials("alice", SECRET)
    assert SECRET not in repr(credentials)
    assert split_url(PLAIN) == (PLAIN, None)
    assert split_url("https://TOKEN@h.example.org/r")[1] == (
        SourceCredentials("TOKEN", ""))
    assert split_url("svn://u:p@svn.example.org/r") == (
        "svn://svn.example.org/r", SourceCredentials("u", "p"))


@pytest.mark.parametrize("url, message", [
    ("git://u:p@git.example.org/r.git", "git sources cannot use credentials"),
    ("bzr://u:p@bzr.example.org/r", "bzr sources cannot use credentials"),
    ("https://:p@h.example.org/r", "The source user name is empty."),
    ("https://u:p%0A@h.example.org/r", "contains control characters"),
    ("https://u:s3cret@h.example.org:99999/r", "Invalid URL"),
])
def test_split_url_refuses_credentials_that_cannot_be_used(url, message):
    with pytest.raises(CodeImportValidationError) as info:
        split_url(url)
    assert message in str(info.value)
    assert "s3cret" not in str(info.value)


def test_split_cvs_root_keeps_the_user():
    assert split_cvs_root(":pserver:bob:hunter2@cvs.example.org:/cvs") == (
        ":pserver:bob@cvs.example.org:/cvs", "hunter2")
    assert split_cvs_root(":pserver:bob@cvs.example.org:/cvs") == (
        ":pserver:bob@cvs.example.org:/cvs", None)


def test_the_credentials_file_is_private_and_round_trips(tmp_path):
    credentials = SourceCredentials("alice", SECRET)
    path = write_file(str(tmp_path), credentials)
    assert (tmp_path / "source-credentials.json").stat().st_mode & 0o777 == (
        0o600)
    assert read_file(path) == credentials
    assert from_wire(to_wire(credentials)) == credentials
    assert from_wire(None) is None
    with pytest.raises(CodeImportValidationError):
        from_wire(["alice"])
    (tmp_path / "bad").write_text("{")
    with pytest.raises(CodeImportValidationError):
        read_file(str(tmp_path / "bad"))


# -- registering and changing ------------------------------------------------

def new_import(codeimport, **source):
    f = codeimport.factory
    source.setdefault("rcs_type", _RCS.GIT)
    return codeimport.utilities.code_imports.new(
        f.makePerson(), "project", f.getUniqueString("import"),
        source.pop("rcs_type"), _GIT, **source)


def stored(codeimport, code_import):
    return credentials_for(codeimport.store, code_import.id)


def test_credentials_in_the_url_are_stored_apart(codeimport):
    code_import = new_import(codeimport, url=PRIVATE)

    assert code_import.url == PLAIN
    assert code_import.has_source_credentials
    assert stored(codeimport, code_import) == SourceCredentials(
        "alice", SECRET)
    create = codeimport.utilities.events.getEventsForCodeImport(
        code_import)[0]
    assert create.event_type == CodeImportEventType.CREATE
    assert SECRET not in repr(create.items())
    # The same source with other credentials is the same source.
    with pytest.raises(CodeImportValidationError, match="already specified"):
        new_import(codeimport, url="https://bob:x@git.example.org/private.git")


def test_credentials_given_separately_are_stored(codeimport):
    credentials = SourceCredentials("alice", "pw")
    code_import = new_import(codeimport, url=PLAIN, credentials=credentials)
    assert stored(codeimport, code_import) == credentials
    plain = new_import(codeimport, url="https://git.example.org/open.git")
    assert not plain.has_source_credentials


def test_credentials_both_ways_or_for_git_protocol_are_refused(codeimport):
    with pytest.raises(CodeImportValidationError, match="not both"):
        new_import(codeimport, url=PRIVATE,
                   credentials=SourceCredentials("bob", "x"))
    with pytest.raises(CodeImportValidationError, match="git sources"):
        new_import(codeimport, url="git://git.example.org/r.git",
                   credentials=SourceCredentials("bob", "x"))


def test_a_cvs_password_is_stored_apart_from_the_cvsroot(codeimport):
    code_import = new_import(
        codeimport, rcs_type=_RCS.CVS, cvs_module="mod",
        cvs_root=":pserver:bob:hunter2@cvs.example.org:/cvs")
    assert code_import.cvs_root == ":pserver:bob@cvs.example.org:/cvs"
    assert stored(codeimport, code_import) == SourceCredentials(
        "bob", "hunter2")
    given = new_import(
        codeimport, rcs_type=_RCS.CVS, cvs_module="given",
        cvs_root=":pserver:bob@cvs.example.org:/cvs",
        credentials=SourceCredentials("bob", "pw"))
    assert stored(codeimport, given) == SourceCredentials("bob", "pw")
    with pytest.raises(CodeImportValidationError, match="names the user"):
        new_import(codeimport, rcs_type=_RCS.CVS, cvs_module="nouser",
                   cvs_root=":pserver:cvs.example.org:/cvs",
                   credentials=SourceCredentials("bob", "pw"))
    with pytest.raises(CodeImportValidationError, match="CVSROOT's user"):
        new_import(codeimport, rcs_type=_RCS.CVS, cvs_module="other",
                   cvs_root=":pserver:bob@cvs.example.org:/cvs",
                   credentials=SourceCredentials("eve", "x"))


def test_changing_the_url_keeps_credentials_only_on_the_same_server(
        codeimport):
    code_import = new_import(codeimport, url=PRIVATE)
    user = codeimport.factory.makePerson()

    code_import.updateFromData(
        {"url": "https://git.example.org/moved.git"}, user)
    assert stored(codeimport, code_import).username == "alice"

    event = code_import.updateFromData(
        {"url": "https://carol:new@git.example.org/moved2.git"}, user)
    assert code_import.url == "https://git.example.org/moved2.git"
    assert stored(codeimport, code_import) == SourceCredentials(
        "carol", "new")
    assert "new@" not in repr(event.items())

    code_import.updateFromData(
        {"url": "https://elsewhere.example.org/moved.git"}, user)
    assert stored(codeimport, code_import) is None

    code_import.updateFromData(
        {"credentials": SourceCredentials("dan", "d")}, user)
    assert stored(codeimport, code_import).username == "dan"
    code_import.updateFromData({"credentials": None}, user)
    assert not code_import.has_source_credentials


def test_the_scheduler_hands_credentials_only_to_a_running_job(codeimport):
    api = CodeImportSchedulerAPI(codeimport.utilities)
    code_import = new_import(codeimport, url=PRIVATE)
    job = code_import.import_job

    assert "source_credentials" not in api.getImportDataForJobID(job.id)
    codeimport.utilities.workflow.startJob(
        job, codeimport.factory.makeCodeImportMachine(set_online=True))
    data = api.getImportDataForJobID(job.id)

    assert data["source_credentials"] == {"username": "alice",
                                          "password": SECRET}
    assert SECRET not in repr(data["arguments"])
    assert PLAIN in data["arguments"]


# -- the command line ----------------------------------------------------

@pytest.fixture
def run(codeimport, capsys):
    def run(main, *args, stdin=None):
        codeimport.commit()
        ran = call(main, *args, "--dsn", codeimport.dsn, capsys=capsys)
        reload(codeimport)
        return ran
    return run


def find(codeimport, name):
    branch = codeimport.utilities.branches.getByUniqueName(name)
    return codeimport.utilities.code_imports.getByBranch(branch)


def test_add_import_with_a_password_file(codeimport, run, tmp_path):
    password = tmp_path / "password"
    password.write_text(SECRET + "\n")
    ran = run(addimport.main, "--owner", "alice", "--create-owner",
              "--project", "p", "--name", "n", "--git-url", PLAIN,
              "--source-username", "alice",
              "--source-password-file", str(password))
    assert ran.returncode == 0, ran.stderr
    code_import = find(codeimport, "~alice/p/n")
    assert stored(codeimport, code_import) == SourceCredentials(
        "alice", SECRET)


@pytest.mark.parametrize("args, message", [
    (["--source-username", "alice"], "--source-username needs"),
    (["--source-password-file", "/nonexistent"], "needs --source-username"),
    (["--source-username", "alice", "--source-password-file",
      "/nonexistent"], "Cannot read the password file: No such file"),
    (["--git-url", PRIVATE, "--source-username", "alice",
      "--source-password-file", "PASSWORD"], "not both"),
    (["--git-url", "git://u:s3cret@git.example.org/r"],
     "git sources cannot use credentials"),
])
def test_add_import_refuses_bad_credentials_in_one_line(
        codeimport, run, tmp_path, args, message):
    (tmp_path / "password").write_text("pw\n")
    args = [str(tmp_path / "password") if a == "PASSWORD" else a
            for a in args]
    if "--git-url" not in args:
        args += ["--git-url", PLAIN]
    ran = run(addimport.main, "--owner", "alice", "--create-owner",
              "--project", "p", "--name", "n", *args)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.count("\n") <= 2 and message in ran.stderr
    assert "s3cret" not in ran.stderr and "s3cr%" not in ran.stderr
    assert codeimport.utilities.branches.getByUniqueName("~alice/p/n") is None


def test_source_credentials_sets_replaces_and_removes_them(
        codeimport, run, tmp_path, monkeypatch):
    from codeimport.scripts import credentials as credentials_script

    ran = run(addimport.main, "--owner", "alice", "--create-owner",
              "--project", "p", "--name", "n", "--git-url", PLAIN)
    assert ran.returncode == 0, ran.stderr
    code_import = find(codeimport, "~alice/p/n")
    password = tmp_path / "password"
    password.write_text("first\n")

    ran = run(credentials_script.main, "~alice/p/n", "--source-username",
              "bob", "--source-password-file", str(password), "--by",
              "alice")
    assert (ran.returncode, ran.stdout) == (
        0, "~alice/p/n: source credentials set\n"), ran.stderr
    assert stored(codeimport, code_import) == SourceCredentials(
        "bob", "first")

    monkeypatch.setattr("sys.stdin", io.StringIO("second\n"))
    ran = run(credentials_script.main, str(code_import.id),
              "--source-username", "bob", "--source-password-file", "-")
    assert ran.stdout == "~alice/p/n: source credentials replaced\n"
    assert stored(codeimport, code_import).password == "second"

    ran = run(credentials_script.main, "~alice/p/n", "--remove")
    assert ran.stdout == "~alice/p/n: source credentials removed\n"
    assert stored(codeimport, code_import) is None
    events = [e.event_type.name for e in
              codeimport.utilities.events.getEventsForCodeImport(
                  code_import)]
    assert events == ["CREATE", "MODIFY", "MODIFY", "MODIFY"]


@pytest.mark.parametrize("args, message", [
    (["--remove", "--source-username", "bob"], "--remove takes no"),
    (["--source-password-file", "/nonexistent"], "needs --source-username"),
    (["--source-username", "bob", "--source-password-file", "/nonexistent"],
     "Cannot read the password file"),
    ([], "one of the arguments"),
])
def test_source_credentials_refuses_bad_input_in_one_line(
        codeimport, run, args, message):
    from codeimport.scripts import credentials as credentials_script

    run(addimport.main, "--owner", "alice", "--create-owner", "--project",
        "p", "--name", "n", "--git-url", PLAIN)
    ran = run(credentials_script.main, "~alice/p/n", *args)
    assert ran.returncode == 2 and message in ran.stderr, ran.stderr
    assert not find(codeimport, "~alice/p/n").has_source_credentials


def test_listings_and_status_never_show_credentials(codeimport, run):
    ran = run(addimport.main, "--owner", "alice", "--create-owner",
              "--project", "p", "--name", "n", "--git-url", PRIVATE)
    assert ran.returncode == 0, ran.stderr
    for main, args in ((imports_script.main_imports, ()),
                       (imports_script.main_imports, ("--json",)),
                       (imports_script.main_show, ("~alice/p/n",)),
                       (imports_script.main_show, ("~alice/p/n", "--json")),
                       (status_script.main, ())):
        ran = run(main, *args)
        assert ran.returncode == 0, ran.stderr
        assert "s3cr" not in ran.stdout and "alice:s" not in ran.stdout
        assert PLAIN in ran.stdout or main is status_script.main
    assert "(with stored credentials)" in run(
        imports_script.main_show, "~alice/p/n").stdout


# -- upgrading a database whose URLs hold credentials ----------------------

@pytest.fixture
def empty_database(codeimport):
    name = f"codeimport_secrets_{codeimport.factory.getUniqueInteger()}"
    dsn = postgres.create_database(codeimport.server, name)
    yield dsn
    postgres.drop_database(codeimport.server, name)


def test_the_upgrade_moves_credentials_out_of_urls_and_cvsroots(
        empty_database):
    database.install(empty_database)
    connection = psycopg2.connect(empty_database)
    try:
        cursor = connection.cursor()
        cursor.execute(
            "DROP TABLE codeimportsourcecredential;"
            " DELETE FROM schemaversion"
            " WHERE patch = '0003-source-credentials';"
            " INSERT INTO person (name, displayname) VALUES ('p', 'P');"
            " INSERT INTO branch (id, owner, project, name, unique_name,"
            " branch_type) SELECT n, 1, 'p', 'b' || n, '~p/p/b' || n, 3"
            " FROM generate_series(1, 4) n;"
            " INSERT INTO codeimport (branch, registrant, owner, rcs_type,"
            " target_rcs_type, url, cvs_root, cvs_module) VALUES"
            f" (1, 1, 1, 4, 'GIT', '{PRIVATE}', NULL, NULL),"
            " (2, 1, 1, 4, 'GIT', 'https://TOKEN@h.example.org/r', NULL,"
            " NULL),"
            " (3, 1, 1, 4, 'GIT', 'https://h.example.org/open', NULL, NULL),"
            " (4, 1, 1, 1, 'BZR', NULL,"
            " ':pserver:bob:hunter2@cvs.example.org:/cvs', 'm');"
            " INSERT INTO codeimportevent (entry_type, code_import)"
            " VALUES (110, 1);"
            " INSERT INTO codeimporteventdata (event, data_type, data_value)"
            f" VALUES (1, 240, '{PRIVATE}'), (1, 222,"
            " ':pserver:bob:hunter2@cvs.example.org:/cvs')")
        connection.commit()
        assert database.install(empty_database) == ["0003-source-credentials"]
        cursor.execute("SELECT branch, url, cvs_root FROM codeimport"
                       " ORDER BY branch")
        assert cursor.fetchall() == [
            (1, PLAIN, None), (2, "https://h.example.org/r", None),
            (3, "https://h.example.org/open", None),
            (4, None, ":pserver:bob@cvs.example.org:/cvs")]
        cursor.execute("SELECT c.branch, s.username, s.password FROM"
                       " codeimportsourcecredential s JOIN codeimport c"
                       " ON c.id = s.code_import ORDER BY c.branch")
        assert cursor.fetchall() == [(1, "alice", SECRET), (2, "TOKEN", ""),
                                     (4, "bob", "hunter2")]
        cursor.execute("SELECT data_value FROM codeimporteventdata"
                       " ORDER BY data_type")
        assert cursor.fetchall() == [
            (":pserver:bob@cvs.example.org:/cvs",), (PLAIN,)]
    finally:
        connection.close()


def test_the_audit_trail_records_when_credentials_change_never_them(
        codeimport):
    from codeimport.enums import CodeImportEventDataType as Data

    code_import = new_import(codeimport, url=PRIVATE)
    user = codeimport.factory.makePerson()
    codeimport.commit()
    [create] = codeimport.utilities.events.getEventsForCodeImport(
        code_import)
    assert dict(create.items())[Data.SOURCE_CREDENTIALS].startswith("set 2")

    event = code_import.updateFromData(
        {"credentials": SourceCredentials("alice", "changed-pw")}, user)
    codeimport.commit()
    data = dict(event.items())
    assert data[Data.SOURCE_CREDENTIALS] != data[
        Data.OLD_SOURCE_CREDENTIALS]
    event = code_import.updateFromData({"credentials": None}, user)
    data = dict(event.items())
    assert data[Data.SOURCE_CREDENTIALS] is None
    assert data[Data.OLD_SOURCE_CREDENTIALS].startswith("set 2")
    shown = repr([e.items() for e in
                  codeimport.utilities.events.getEventsForCodeImport(
                      code_import)])
    assert "changed-pw" not in shown and SECRET not in shown
