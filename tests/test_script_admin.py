"""The operator commands add-import, request-import and machine.

Most tests call each command's ``main(argv)`` in this process (it opens
its own database connection, as a subprocess would); one test per
command runs the real ``codeimport`` executable.
"""

from __future__ import annotations

import pytest
from scripthelpers import call
from scripthelpers import cli
from scripthelpers import reload

from codeimport.enums import CodeImportEventDataType
from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.scripts import addimport
from codeimport.scripts import machine as machine_script
from codeimport.scripts import requestimport

URL = "https://git.example.org/gnome-terminal.git"
NAME = "~vcs-imports/gnome-terminal/import"


@pytest.fixture
def run(codeimport, capsys):
    """Call a script's main with --dsn; the setup is committed first."""

    def run(main, *args):
        codeimport.commit()
        ran = call(main, *args, "--dsn", codeimport.dsn, capsys=capsys)
        reload(codeimport)
        return ran

    return run


@pytest.fixture
def alice(codeimport):
    vcs_imports = codeimport.utilities.persons.getByName("vcs-imports")
    return codeimport.factory.makePerson("alice", member_of=[vcs_imports])


def count_rows(codeimport, table):
    query = f"SELECT count(*) FROM {table}"  # test literals only
    return codeimport.store.execute(query).get_one()[0]


def one_line_error(ran, text):
    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    assert ran.stdout == ""
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert text in ran.stderr


# add-import

def test_add_import_registers_a_reviewed_git_import_due_now(
        codeimport, alice):
    events = codeimport.new_events()
    codeimport.commit()

    ran = cli("add-import", "--owner", "vcs-imports", "--project",
              "gnome-terminal", "--name", "import", "--git-url", URL,
              "--registrant", "alice", dsn=codeimport.dsn)

    assert (ran.returncode, ran.stdout, ran.stderr) == (0, NAME + "\n", "")
    reload(codeimport)
    branch = codeimport.utilities.branches.getByUniqueName(NAME)
    code_import = codeimport.utilities.code_imports.getByBranch(branch)
    assert code_import.url == URL
    assert code_import.rcs_type == RevisionControlSystems.GIT
    assert code_import.target_rcs_type == TargetRevisionControlSystems.GIT
    assert code_import.review_status == CodeImportReviewStatus.REVIEWED
    assert code_import.registrant.name == "alice"
    assert code_import.import_job.isOverdue()
    assert events.summary() == f"CREATE {NAME} alice"


@pytest.mark.parametrize("target", ["bzr", "BZR"])
def test_add_import_refuses_targets_other_than_git(
        codeimport, run, alice, target):
    ran = run(addimport.main, "--owner", "alice", "--project", "p",
              "--name", "trunk", "--git-url", URL, "--target", target)

    one_line_error(ran, f"--target {target}: only Git targets exist "
                   "(every import is converted into Git)")
    assert count_rows(codeimport, "codeimport") == 0
    assert codeimport.utilities.branches.getByUniqueName(
        "~alice/p/trunk") is None


def test_add_import_with_target_git(codeimport, run, alice):
    ran = run(addimport.main, "--owner", "alice", "--project", "p",
              "--name", "trunk", "--git-url", URL, "--target", "git")

    assert ran.returncode == 0, ran.stderr
    branch = codeimport.utilities.branches.getByUniqueName("~alice/p/trunk")
    code_import = codeimport.utilities.code_imports.getByBranch(branch)
    assert code_import.target_rcs_type == TargetRevisionControlSystems.GIT


def test_add_import_with_create_owner_creates_the_person(codeimport, run):
    ran = run(addimport.main, "--owner", "newbie", "--create-owner",
              "--project", "p", "--name", "n", "--git-url", URL)

    assert ran.stdout == "~newbie/p/n\n"
    assert codeimport.utilities.persons.getByName("newbie") is not None


@pytest.mark.parametrize("args, message", [
    (["--owner", "nobody"], "No owner called 'nobody' (use --create-owner"),
    (["--owner", "vcs-imports", "--registrant", "ghost"],
     "No registrant called 'ghost'."),
    (["--owner", "newbie", "--create-owner", "--registrant", "alice"],
     "alice is not a member of newbie."),
    (["--owner", "alice", "--git-url", "file:///srv/git/x"],
     "The URL scheme 'file' is not allowed"),
    (["--owner", "alice", "--project", "Bad Name"],
     "Invalid project name: 'Bad Name'"),
    (["--owner", "alice", "--target", "svn"],
     "--target svn: only Git targets exist"),
    (["--owner", "alice", "--name", "n" * 5000],
     "The branch name is 5,000 characters long; the limit is 100."),
    (["--owner", "alice", "--project", "p" * 101],
     "The project name is 101 characters long; the limit is 100."),
    (["--owner", "o" * 101, "--create-owner"],
     "The person name is 101 characters long; the limit is 100."),
    (["--owner", "alice", "--git-url", "https://example.com/"
      + "x" * 100_000],
     "The URL is 100,020 characters long; the limit is 2,048."),
])
def test_add_import_with_bad_input_changes_nothing(
        codeimport, run, alice, args, message):
    defaults = {"--project": "p", "--name": "n", "--git-url": URL}
    for option, value in defaults.items():
        if option not in args:
            args = args + [option, value]
    persons = count_rows(codeimport, "person")

    ran = run(addimport.main, *args)

    one_line_error(ran, message)
    assert count_rows(codeimport, "branch") == 0
    assert count_rows(codeimport, "person") == persons


@pytest.mark.parametrize("option, url, rcs_type", [
    ("--svn-url", "svn://svn.example.org/repos/proj", "BZR_SVN"),
    ("--svn-url", "https://svn.example.org/repos/proj", "BZR_SVN"),
    ("--hg-url", "https://hg.example.org/proj", "HG"),
    ("--bzr-url", "bzr://bzr.example.org/proj", "BZR"),
    ("--git-url", "git://git.example.org/proj.git", "GIT"),
])
def test_add_import_registers_each_kind_into_git(codeimport, run, alice,
                                                 option, url, rcs_type):
    ran = run(addimport.main, "--owner", "alice", "--project", "p",
              "--name", "n", option, url)

    assert (ran.returncode, ran.stdout) == (0, "~alice/p/n\n"), ran.stderr
    branch = codeimport.utilities.branches.getByUniqueName("~alice/p/n")
    code_import = codeimport.utilities.code_imports.getByBranch(branch)
    assert code_import.rcs_type == RevisionControlSystems.items[rcs_type]
    assert code_import.url == url
    assert code_import.target_rcs_type == TargetRevisionControlSystems.GIT
    # The worker receives the kind's own contract name.
    kind = code_import.import_job.makeWorkerArguments()[1]
    assert kind == {"BZR_SVN": "bzr-svn", "HG": "hg", "BZR": "bzr",
                    "GIT": "git"}[rcs_type]


def test_add_import_registers_a_cvs_module(codeimport, run, alice):
    ran = run(addimport.main, "--owner", "alice", "--project", "p",
              "--name", "n", "--cvs-root",
              ":pserver:anonymous@cvs.example.org:2401/cvsroot",
              "--cvs-module", "proj")

    assert ran.returncode == 0, ran.stderr
    branch = codeimport.utilities.branches.getByUniqueName("~alice/p/n")
    code_import = codeimport.utilities.code_imports.getByBranch(branch)
    assert code_import.rcs_type == RevisionControlSystems.CVS
    assert (code_import.cvs_root, code_import.cvs_module) == (
        ":pserver:anonymous@cvs.example.org:2401/cvsroot", "proj")


@pytest.mark.parametrize("args, message", [
    (["--svn-url", "git://svn.example.org/x"],
     "Subversion imports cannot read git URLs; use svn, http, https."),
    (["--hg-url", "svn://hg.example.org/x"],
     "Mercurial imports cannot read svn URLs; use http, https."),
    (["--bzr-url", "git://bzr.example.org/x"],
     "Bazaar imports cannot read git URLs; use bzr, http, https."),
    (["--git-url", "svn://git.example.org/x"],
     "Git imports cannot read svn URLs; use http, https, git."),
    (["--svn-url", "file:///srv/svn/x"],
     "The URL scheme 'file' is not allowed"),
    (["--git-url", URL, "--svn-url", "svn://svn.example.org/x"],
     "argument --svn-url: not allowed with argument --git-url"),
    ([], "one of the arguments --git-url --svn-url --hg-url --bzr-url "
     "--cvs-root is required"),
    (["--cvs-root", ":pserver:a@cvs.example.org:/c"],
     "--cvs-root needs --cvs-module"),
    (["--git-url", URL, "--cvs-module", "m"],
     "--cvs-module goes with --cvs-root only"),
    (["--cvs-root", ":local:/srv/cvs", "--cvs-module", "m"],
     "Local CVS roots are not allowed."),
])
def test_add_import_refuses_what_no_worker_can_import(
        codeimport, run, alice, args, message):
    ran = run(addimport.main, "--owner", "alice", "--project", "p",
              "--name", "n", *args)

    one_line_error(ran, message)
    assert count_rows(codeimport, "branch") == 0


def test_add_import_of_local_sources_when_the_settings_allow_file(
        codeimport, run, alice, tmp_path):
    settings = tmp_path / "settings.ini"
    settings.write_text("[codeimport]\nallowed_url_schemes = "
                        "http,https,svn,git,bzr,file\n")
    ran = run(addimport.main, "--owner", "alice", "--project", "p",
              "--name", "n", "--svn-url", "file:///srv/svn/repo",
              "--settings-file", str(settings))

    assert ran.returncode == 0, ran.stderr


def test_add_import_of_a_url_already_imported_is_refused(codeimport, run):
    codeimport.factory.makeCodeImport(
        url=URL, target_rcs_type=TargetRevisionControlSystems.GIT)

    ran = run(addimport.main, "--owner", "vcs-imports", "--project", "p",
              "--name", "n", "--git-url", URL)

    one_line_error(ran, "This foreign branch URL is already specified")


def test_add_import_without_required_options_exits_2(run):
    one_line_error(run(addimport.main, "--owner", "x"),
                   "the following arguments are required")


# request-import

def make_import(codeimport, **kwargs):
    vcs_imports = codeimport.utilities.persons.getByName("vcs-imports")
    return codeimport.factory.makeCodeImport(
        owner=vcs_imports, registrant=vcs_imports, project="gnome-terminal",
        branch_name="import", **kwargs)


def test_request_import_requests_the_pending_job(codeimport, alice):
    code_import = make_import(codeimport)
    job = code_import.import_job
    codeimport.store.execute(
        "UPDATE codeimportjob SET date_due = CURRENT_TIMESTAMP"
        " + interval '1 day' WHERE id = ?", (job.id,))
    codeimport.commit()
    events = codeimport.new_events()

    ran = cli("request-import", NAME, "--by", "alice", dsn=codeimport.dsn)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"{NAME}: job {job.id} requested by alice, due now\n"
    reload(codeimport)
    assert job.requesting_user.name == "alice"
    assert job.isOverdue()
    assert events.summary() == f"REQUEST {NAME} alice"


def test_request_import_already_requested_changes_nothing(
        codeimport, run, alice):
    code_import = make_import(codeimport)
    bob = codeimport.factory.makePerson("bob")
    codeimport.utilities.workflow.requestJob(code_import.import_job, bob)
    events = codeimport.new_events()

    ran = run(requestimport.main, NAME, "--by", "alice")

    assert ran.returncode == 0
    assert ran.stdout == (
        f"{NAME}: already requested by bob; nothing changed\n")
    assert code_import.import_job.requesting_user.name == "bob"
    assert list(events) == []


@pytest.mark.parametrize("requested", [False, True])
def test_request_import_of_a_running_import_says_it_is_running(
        codeimport, run, alice, requested):
    code_import = make_import(codeimport)
    job = code_import.import_job
    if requested:
        # The probe's case: a requested job, since claimed, is running;
        # "already requested" would hide that.
        bob = codeimport.factory.makePerson("bob")
        codeimport.utilities.workflow.requestJob(job, bob)
    machine = codeimport.factory.makeCodeImportMachine("bravo", True)
    codeimport.factory.makeRunningJob(machine, code_import)
    events = codeimport.new_events()

    ran = run(requestimport.main, NAME, "--by", "alice")

    one_line_error(ran, f"{NAME}: This code import is already running "
                   f"(job {job.id} on bravo, started ")
    assert ran.stderr.endswith(" UTC); nothing changed\n")
    assert list(events) == []


def test_request_import_of_a_suspended_import_is_refused(
        codeimport, run, alice):
    make_import(codeimport, review_status=CodeImportReviewStatus.SUSPENDED)

    ran = run(requestimport.main, NAME, "--by", "alice")

    one_line_error(ran, "This code import is SUSPENDED, and must be "
                   "Reviewed")


@pytest.mark.parametrize("name, by, message", [
    ("~vcs-imports/nothing/here", "alice",
     "No code import targets ~vcs-imports/nothing/here."),
    (NAME, "ghost", "No person called 'ghost'."),
])
def test_request_import_with_unknown_names_is_refused(
        codeimport, run, alice, name, by, message):
    code_import = make_import(codeimport)

    ran = run(requestimport.main, name, "--by", by)

    one_line_error(ran, message)
    assert code_import.import_job.requesting_user is None


# machine

def event_items(event):
    return {key.name: value for key, value in event.items()}


def test_machine_online_with_create_registers_a_new_machine(
        codeimport, alice):
    codeimport.commit()
    events = codeimport.new_events()

    ran = cli("machine", "online", "bravo", "--create", "--by", "alice",
              "--message", "new box", dsn=codeimport.dsn)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "bravo: registered\nbravo: OFFLINE -> ONLINE\n"
    reload(codeimport)
    machine = codeimport.utilities.machines.getByHostname("bravo")
    assert machine.state == CodeImportMachineState.ONLINE
    [event] = list(events)
    assert event.event_type == CodeImportEventType.ONLINE
    assert event.person.name == "alice"
    assert event_items(event) == {"MESSAGE": "new box"}


def test_machine_offline_records_the_reason_and_message(
        codeimport, run, alice):
    machine = codeimport.factory.makeCodeImportMachine("bravo", True)
    events = codeimport.new_events()

    ran = run(machine_script.main, "offline", "bravo", "--by", "alice",
              "--message", "disk full")

    assert ran.stdout == "bravo: ONLINE -> OFFLINE\n"
    assert machine.state == CodeImportMachineState.OFFLINE
    [event] = list(events)
    assert event_items(event) == {
        CodeImportEventDataType.MESSAGE.name: "disk full",
        CodeImportEventDataType.OFFLINE_REASON.name: "STOPPED"}


def test_machine_offline_with_reason(codeimport, run):
    codeimport.factory.makeCodeImportMachine("bravo", True)
    events = codeimport.new_events()

    ran = run(machine_script.main, "offline", "bravo", "--reason",
              "QUIESCED")

    assert ran.returncode == 0
    [event] = list(events)
    assert event_items(event) == {"OFFLINE_REASON": "QUIESCED"}


def test_machine_quiesce_then_online(codeimport, run, alice):
    machine = codeimport.factory.makeCodeImportMachine("bravo", True)

    ran = run(machine_script.main, "quiesce", "bravo", "--by", "alice")
    assert ran.stdout == "bravo: ONLINE -> QUIESCING\n"
    assert machine.state == CodeImportMachineState.QUIESCING

    ran = run(machine_script.main, "online", "bravo")
    assert ran.stdout == "bravo: QUIESCING -> ONLINE\n"
    assert machine.state == CodeImportMachineState.ONLINE


@pytest.mark.parametrize("args, message", [
    (["quiesce", "bravo"], "quiesce needs --by PERSON"),
    (["online", "bravo"], "State of machine bravo was ONLINE."),
    (["online", "bravo", "--reason", "STOPPED"],
     "--reason is only for offline"),
    (["offline", "bravo", "--create"], "--create is only for online"),
    (["offline", "bravo", "--reason", "BORED"],
     "argument --reason: invalid choice: 'BORED'"),
    (["offline", "bravo", "--reason", "WATCHDOG"],
     "argument --reason: invalid choice: 'WATCHDOG'"),
    (["offline", "bravo", "--by", "ghost"], "No person called 'ghost'."),
    (["offline", "charlie"],
     "No machine called 'charlie' (known: bravo; use online --create"),
    (["reboot", "bravo"], "argument action: invalid choice: 'reboot'"),
    (["online", "evil\x1b[31mRED\x1b[0m\nFAKE    ONLINE", "--create"],
     "Invalid machine host name: 'evil\\x1b[31mRED\\x1b[0m\\nFAKE"),
    (["online", "csi\u009b31m", "--create"],
     "Invalid machine host name: 'csi\\x9b31m' is not ASCII"),
    (["online", "rlo\u202ehost", "--create"],
     "Invalid machine host name: 'rlo\\u202ehost' is not ASCII"),
    (["online", "h" * 300, "--create"],
     "Invalid machine host name: it is 300 characters long"),
])
def test_machine_with_bad_input_changes_nothing(
        codeimport, run, args, message):
    machine = codeimport.factory.makeCodeImportMachine("bravo", True)
    events = codeimport.new_events()

    ran = run(machine_script.main, *args)

    one_line_error(ran, message)
    assert ran.stderr.isascii() and "\x1b" not in ran.stderr
    assert machine.state == CodeImportMachineState.ONLINE
    assert list(events) == []
    assert count_rows(codeimport, "codeimportmachine") == 1


def test_request_import_leaves_the_job_pending(codeimport, run, alice):
    code_import = make_import(codeimport)

    run(requestimport.main, NAME, "--by", "alice")

    assert code_import.import_job.state == CodeImportJobState.PENDING
