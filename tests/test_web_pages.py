"""Every page of the web interface, through WebTest, on the real database.

What each kind of visitor sees follows the library's security policy:
anonymous visitors and people see imports and results; import operators
(vcs-imports) and admins also see machines and the audit trail.
"""

from __future__ import annotations

import pytest
import webtest
from webhelpers import WHO
from webhelpers import sign_in

from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.xmlrpc.auth import Credentials

OPERATORS = ("victor", "ada")


def names(page):
    return [a.text for a in page.html.select("#imports tbody a.import-link")]


def test_imports_list_shows_every_import_with_its_state(world, app):
    page = app.get("/")
    assert names(page) == ["~alice/hello/trunk", "~bob/world/main",
                           "~carol/svnproj/trunk"]
    rows = {r.select_one("a").text: [td.text.strip() for td in r.select("td")]
            for r in page.html.select("#imports tbody tr")}
    failing = rows["~alice/hello/trunk"]
    assert failing[1] == "GIT http://git.example.com/hello.git"
    assert failing[2] == "FAILING"
    assert failing[3].startswith("FAILURE 6h")
    assert failing[5] == "1"
    assert failing[6].startswith("8h")
    running = rows["~bob/world/main"]
    assert running[4] == "running"
    assert running[6] == "never"
    svn = rows["~carol/svnproj/trunk"]
    assert svn[1].startswith("BZR_SVN svn://svn.example.com/repo")


@pytest.mark.parametrize("query, expected", [
    ("filter=failing", ["hello/trunk"]),
    ("filter=running", ["world/main"]),
    ("filter=never-succeeded", ["world/main", "svnproj/trunk"]),
    ("q=SVN.example", ["svnproj/trunk"]),
    ("q=100%25", []),
    ("kind=BZR_SVN", ["svnproj/trunk"]),
    ("status=FAILING", ["hello/trunk"]),
    ("sort=failures", ["hello/trunk", "world/main", "svnproj/trunk"]),
    ("sort=freshness&filter=never-succeeded",
     ["world/main", "svnproj/trunk"]),
])
def test_imports_list_filters_searches_and_sorts(world, app, query, expected):
    found = names(app.get("/?" + query))
    assert [n.split("/", 1)[1] for n in found] == expected


@pytest.mark.parametrize("query", [
    "filter=broken", "sort=random", "kind=DARCS", "status=HAPPY"])
def test_imports_list_refuses_unknown_choices(world, app, query):
    page = app.get("/?" + query, status=400)
    assert "Unknown" in page.html.select_one("#error-message").text


@pytest.mark.parametrize("who", WHO)
def test_import_page_by_visitor(world, app, who):
    sign_in(app, who)
    page = app.get(f"/imports/{world.failing.id}")
    html = page.html
    assert html.select_one("#import-name").text == "~alice/hello/trunk"
    assert html.select_one("#review-status").text == "FAILING"
    assert html.select_one("#failures").text == "1"
    assert "8h" in html.select_one("#freshness").text
    statuses = [tr.select("td")[1].text
                for tr in html.select("#results tbody tr")]
    assert statuses == ["FAILURE", "SUCCESS_NOCHANGE", "SUCCESS"]
    bars = html.select("#chart rect.bar")
    assert [b["class"][1] for b in bars] == [
        "success", "nochange", "failure"]
    assert "FAILURE, took 12s" in bars[2].select_one("title").text
    assert html.select_one("#no-job") is not None
    operator = who in OPERATORS
    assert (html.select_one("#events") is not None) == operator
    assert (html.select_one("#try-again") is not None) == (
        who != "anonymous")
    assert bool(html.select("button.review")) == operator
    if operator:
        events = [tr.select("td")[1].text
                  for tr in html.select("#events tbody tr")]
        assert events == ["MODIFY", "CREATE"]
        data = html.select("#events tbody tr")[0].select("td")[4].text
        assert "OLD_REVIEW_STATUS=REVIEWED" in data
        assert "REVIEW_STATUS=FAILING" in data


def test_full_log_is_plain_text(world, app):
    page = app.get(f"/imports/{world.failing.id}")
    log = page.click(linkid=None, href=r"/results/\d+/log")
    assert log.content_type == "text/plain"
    assert log.text == "cloning...\nfatal: gone\n"
    assert log.headers["X-Content-Type-Options"] == "nosniff"


def test_log_of_a_result_without_one_is_not_found(world, app):
    results = list(world.failing.results)
    app.get(f"/imports/{world.failing.id}/results/{results[-1].id}/log",
            status=404)
    other = world.running.id
    app.get(f"/imports/{other}/results/{results[0].id}/log", status=404)


@pytest.mark.parametrize("who", WHO)
def test_running_job_and_its_escaped_log_tail(world, app, who):
    sign_in(app, who)
    page = app.get(f"/imports/{world.running.id}")
    assert page.html.select_one("#job-state").text == "RUNNING"
    assert "<b>bold</b> & more" in page.html.select_one("#logtail").text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page.text
    assert '<meta http-equiv="refresh"' in page.text
    shows_machine = "importer-1" in page.html.select_one("#job").text
    assert shows_machine == (who in OPERATORS)


def test_pages_show_bidi_and_control_characters_as_escapes(
        world, app, codeimport):
    # A hostile source's progress output: a right-to-left override makes
    # the text after it read backwards; an escape code and a C1 CSI.
    codeimport.utilities.workflow.updateHeartbeat(
        world.running.import_job,
        "fetching \u202egro.elpmaxe\u202c\n\x1b[31mred\u009b0m\r\u2066x")
    codeimport.commit()
    sign_in(app, "ada")
    page = app.get(f"/imports/{world.running.id}")
    for char in "\u202e\u202c\x1b\x9b\u2066\r":
        assert char not in page.text
    assert page.html.select_one("#logtail").text == (
        "fetching \\u202egro.elpmaxe\\u202c\n\\x1b[31mred\\x9b0m\n"
        "\\u2066x")


def test_unknown_import_is_not_found(world, app):
    app.get("/imports/999999", status=404)
    app.get("/nowhere", status=404)


@pytest.mark.parametrize("who", WHO)
def test_machines_are_for_operators(world, app, who):
    sign_in(app, who)
    page = app.get("/machines")
    table = page.html.select_one("#machines")
    if who in OPERATORS:
        text = table.text
        assert "importer-1" in text and "ONLINE" in text
        assert "world/main" in text
        recent = table.select_one("td.recent").text
        assert "START" in recent and "ONLINE" in recent
        machine = app.get("/machines/importer-1")
        assert machine.html.select_one("#machine-state").text == "ONLINE"
        assert "ONLINE" in machine.html.select_one("#events").text
        buttons = {b["id"] for b in machine.html.select("main form button")}
        expected = {"machine-offline", "machine-quiesce"}
        assert buttons == (expected if who == "ada" else set())
    else:
        assert table is None
        assert "shown to import operators" in page.text
        app.get("/machines/importer-1", status=403)


def test_unknown_machine_is_not_found(world, app):
    sign_in(app, "victor")
    app.get("/machines/no-such-host", status=404)


def test_sign_in_and_out(world, app):
    page = sign_in(app, "alice")
    assert page.html.select_one("#signed-in-as").text == "alice"
    out = page.forms[0].submit().follow()
    assert out.html.select_one("#signed-in-as") is None
    assert out.html.select_one("#sign-in") is not None


@pytest.mark.parametrize("name, password", [
    ("alice", "wrong"), ("nobody", "alice-secret"), ("", "")])
def test_sign_in_refuses_wrong_credentials(world, app, name, password):
    form = app.get("/login").forms["login-form"]
    form["name"] = name
    form["password"] = password
    page = form.submit(status=403)
    assert page.html.select_one("#login-error").text == (
        "Wrong name or password.")
    assert page.html.select_one("#signed-in-as") is None


@pytest.mark.parametrize("name", ["ghost", "admins"])
def test_credentials_of_someone_unknown_sign_nobody_in(world, app, name):
    # Credentials for no person (or for a team) are refused like a wrong
    # password.
    app.app._wsgi.registry.codeimport_credentials = Credentials(
        {name: "boo"})
    form = app.get("/login").forms["login-form"]
    form["name"], form["password"] = name, "boo"
    form.submit(status=403)


def test_sign_in_goes_back_only_to_this_site(world, app):
    form = app.get("/login?came_from=//evil.example.com/x").forms[
        "login-form"]
    form["name"], form["password"] = "alice", "alice-secret"
    assert form.submit().location.endswith("/")
    form = app.get(f"/login?came_from=/imports/{world.failing.id}").forms[
        "login-form"]
    form["name"], form["password"] = "alice", "alice-secret"
    assert form.submit().location.endswith(f"/imports/{world.failing.id}")


def test_pages_forbid_framing_and_scripts(world, app):
    page = app.get("/")
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unreachable_database_is_a_503_page(codeimport_database):
    from codeimport.web.app import make_app

    application = make_app(
        "host=127.0.0.1 port=1 user=x connect_timeout=2",
        Credentials({"nora": "secret"}), session_secret="s" * 40)
    try:
        page = webtest.TestApp(application).get("/", status=503)
        assert page.headers["Retry-After"] == "5"
        assert "The database does not answer" in page.text
    finally:
        application.close()


def test_import_page_shows_the_newest_runs_and_events(world, app,
                                                      codeimport,
                                                      monkeypatch):
    from codeimport.web import views

    monkeypatch.setattr(views, "RESULT_LIMIT", 2)
    monkeypatch.setattr(views, "EVENT_LIMIT", 1)
    sign_in(app, "victor")
    page = app.get(f"/imports/{world.failing.id}")
    statuses = [tr.select("td")[1].text
                for tr in page.html.select("#results tbody tr")]
    assert statuses == ["FAILURE", "SUCCESS_NOCHANGE"]
    assert "1 older runs are not shown" in page.text
    assert len(page.html.select("#events tbody tr")) == 1
    assert "1 older events are not shown" in page.text


def test_an_error_page_leaves_no_transaction_open(world, app, codeimport):
    # A refused request is rolled back before its error page is drawn;
    # the page must not start another transaction that the next request
    # would inherit (with a stale "now").
    sign_in(app, "alice")
    app.get("/machines/importer-1", status=403)
    busy = codeimport.store.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname ="
        " current_database() AND state = 'idle in transaction'"
        " AND application_name LIKE 'codeimport-web%'").get_one()[0]
    assert busy == 0


def test_logs_and_tails_from_before_redaction_show_no_credentials(
        world, app, codeimport):
    """Logs stored before the monitor redacted them, and tails, pass
    through `codeimport.redact` on every page."""
    f = codeimport.factory
    log = f.makeLibraryFileAlias(
        "old.log", b"Fetching https://bob:hunter2@git.example.com/x.git\n")
    f.makeCodeImportResult(world.running, log_file=log,
                           log_excerpt="https://bob:hunter2@git.example.com")
    codeimport.utilities.workflow.updateHeartbeat(
        world.running.import_job, "at https://bob:hunter2@git.example.com")
    codeimport.commit()
    sign_in(app, "victor")
    page = app.get(f"/imports/{world.running.id}")
    assert "hunter2" not in page.text
    assert "https://***@git.example.com" in page.text
    log = page.click(linkid=None, href=r"/results/\d+/log")
    assert log.text == "Fetching https://***@git.example.com/x.git\n"


def test_machine_history_is_paginated(world, app, codeimport):
    # A busy machine: 119 more events than the world gave it.
    machine = codeimport.utilities.machines.getByHostname("importer-1")
    for _ in range(60):
        machine.setOffline(CodeImportMachineOfflineReason.STOPPED)
        machine.setOnline()
    codeimport.commit()
    total = machine.event_count
    assert total > 100
    sign_in(app, "victor")

    first = app.get("/machines/importer-1")
    rows = first.html.select("#events tbody tr")
    assert len(rows) == 50
    assert rows[0].select("td")[1].text == "ONLINE"
    pages = -(-total // 50)
    assert first.html.select_one("#events-pages").text.startswith(
        f"Page 1 of {pages}")
    assert first.html.select_one("#events-newer") is None
    older = first.click(linkid="events-older")
    assert "Page 2 of" in older.html.select_one("#events-pages").text
    last = app.get(f"/machines/importer-1?page={pages}")
    assert len(last.html.select("#events tbody tr")) == total - 50 * (
        pages - 1)
    assert last.html.select_one("#events-older") is None
    shown = [tr for page in range(1, pages + 1) for tr in app.get(
        f"/machines/importer-1?page={page}").html.select("#events tbody tr")]
    assert len(shown) == total
    app.get(f"/machines/importer-1?page={pages + 1}", status=404)
    for bad in ("0", "-1", "two", "9" * 30):
        app.get(f"/machines/importer-1?page={bad}", status=400)
