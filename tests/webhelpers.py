"""Fixtures and helpers for the tests of the web interface and the
operators' command line: a small world, a WebTest client, signing in.

Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
import webtest

from codeimport.enums import CodeImportResultStatus as Status
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.web.app import make_app
from codeimport.web.throttle import SignInThrottle
from codeimport.xmlrpc.auth import Credentials

#: name -> password of everybody who may sign in.
PASSWORDS = {
    "alice": "alice-secret",      # a person, owner of ~alice/hello/trunk
    "victor": "victor-secret",    # a member of vcs-imports
    "ada": "ada-secret",          # a member of admins
}
WHO = ("anonymous", "alice", "victor", "ada")


def csrf_of(page) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the page has no form"
    return match.group(1)


def sign_in(app, who: str):
    """Sign `who` in and return the imports page; for anonymous, return
    the sign-in page (a page with a form, and so a CSRF token)."""
    if who == "anonymous":
        return app.get("/login")
    form = app.get("/login").forms["login-form"]
    form["name"] = who
    form["password"] = PASSWORDS[who]
    return form.submit().follow()


class World:
    """What the tests look at, by name."""


@pytest.fixture
def world(codeimport):
    f = codeimport.factory
    u = codeimport.utilities
    persons = u.persons
    w = World()
    w.alice = f.makePerson(name="alice")
    w.victor = f.makePerson(name="victor",
                            member_of=[persons.getByName("vcs-imports")])
    w.ada = f.makePerson(name="ada", member_of=[persons.getByName("admins")])
    w.machine = f.makeCodeImportMachine(hostname="importer-1",
                                        set_online=True)
    # alice's import: two successes, then failures until FAILING.
    w.failing = f.makeCodeImport(
        registrant=w.alice, project="hello", branch_name="trunk",
        url="http://git.example.com/hello.git")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    log = f.makeLibraryFileAlias("hello.log", b"cloning...\nfatal: gone\n")
    for hours, status, took in ((10, Status.SUCCESS, 30),
                                (8, Status.SUCCESS_NOCHANGE, 5),
                                (6, Status.FAILURE, 12)):
        f.makeCodeImportResult(
            w.failing, status, date_started=now - timedelta(
                hours=hours, seconds=took),
            date_finished=now - timedelta(hours=hours),
            machine=w.machine, log_excerpt="fatal: gone",
            log_file=log if status == Status.FAILURE else None)
    w.failing.updateFromData(
        {"review_status": CodeImportReviewStatus.FAILING}, None)
    # Results made directly do not move the last success; a real run
    # would have.
    codeimport.store.execute(
        "UPDATE codeimport SET date_last_successful = ? WHERE id = ?",
        (now - timedelta(hours=8), w.failing.id))
    # a running import, on importer-1.
    w.running = f.makeCodeImport(
        registrant=f.makePerson(name="bob"), project="world",
        branch_name="main",
        url="http://git.example.com/world.git")
    u.workflow.startJob(w.running.import_job, w.machine)
    u.workflow.updateHeartbeat(w.running.import_job,
                               "r12/40 (30%)\n<b>bold</b> & more")
    # a pending Subversion import that never ran.
    w.pending = f.makeCodeImport(
        registrant=f.makePerson(name="carol"), project="svnproj",
        branch_name="trunk",
        rcs_type=RevisionControlSystems.BZR_SVN,
        url="svn://svn.example.com/repo")
    codeimport.commit()
    return w


@pytest.fixture(scope="session")
def web_application(codeimport_database):
    """One application for the session: its stores see each test's data."""
    application = make_app(
        codeimport_database.dsn,
        Credentials(PASSWORDS, "CODEIMPORT_WEB_CREDENTIALS", "web"),
        session_secret="test-secret-" + "x" * 40)
    yield application
    application.close()


@pytest.fixture
def app(codeimport, web_application):
    """A browser with no cookies, on the web interface."""
    registry = web_application._wsgi.registry
    credentials = registry.codeimport_credentials
    throttle = registry.codeimport_sign_in_throttle
    # Each test starts with no failed sign-ins counted.
    registry.codeimport_sign_in_throttle = SignInThrottle()
    yield webtest.TestApp(web_application)
    registry.codeimport_credentials = credentials
    registry.codeimport_sign_in_throttle = throttle
