"""The web interface's actions: who sees each button, who may press it,
what it changes, and CSRF.

A forged request (a POST for a button the person does not see) must be
refused by the library's security proxy, and change nothing.
"""

from __future__ import annotations

import pytest
from webhelpers import WHO
from webhelpers import csrf_of
from webhelpers import sign_in

from codeimport.enums import CodeImportEventType
from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportReviewStatus


def events_of(codeimport, code_import):
    codeimport.abort()
    return [e.event_type for e in
            codeimport.utilities.events.getEventsForCodeImport(code_import)]


def post(app, path, token, status, **fields):
    return app.post(path, dict(fields, csrf_token=token), status=status)


@pytest.mark.parametrize("who", ["alice", "victor", "ada"])
def test_try_again_makes_a_failing_import_run(world, app, codeimport, who):
    sign_in(app, who)
    page = app.get(f"/imports/{world.failing.id}")
    form = [f for f in page.forms.values()
            if f.action.endswith("/retry")][0]
    page = form.submit().follow()
    assert page.html.select_one(".flash").text == (
        "The import will be tried again.")
    assert page.html.select_one("#review-status").text == "REVIEWED"
    assert page.html.select_one("#job-state").text == "PENDING"
    codeimport.abort()
    job = world.failing.import_job
    assert job.state == CodeImportJobState.PENDING
    assert job.requesting_user.name == who
    assert events_of(codeimport, world.failing)[-2:] == [
        CodeImportEventType.MODIFY, CodeImportEventType.REQUEST]


def test_anonymous_may_not_try_again(world, app, codeimport):
    page = sign_in(app, "anonymous")
    refused = post(app, f"/imports/{world.failing.id}/retry",
                   csrf_of(page), 403)
    assert "Sign in first" in refused.text
    codeimport.abort()
    assert world.failing.review_status == CodeImportReviewStatus.FAILING


@pytest.mark.parametrize("who", WHO)
def test_import_now_button_and_request(world, app, codeimport, who):
    page = sign_in(app, who)
    imported = app.get(f"/imports/{world.pending.id}")
    button = imported.html.select_one("#request-import")
    if who == "anonymous":
        assert button is None
        post(app, f"/imports/{world.pending.id}/request", csrf_of(page), 403)
        codeimport.abort()
        assert world.pending.import_job.requesting_user is None
        return
    assert button is not None
    done = post(app, f"/imports/{world.pending.id}/request",
                csrf_of(page), 303).follow()
    assert done.html.select_one(".flash").text == "Import requested."
    assert done.html.select_one("#request-import") is None
    codeimport.abort()
    assert world.pending.import_job.requesting_user.name == who
    again = post(app, f"/imports/{world.pending.id}/request",
                 csrf_of(page), 409)
    assert "already been requested" in again.html.select_one(
        "#error-message").text


def test_import_now_on_a_running_import_is_refused(world, app):
    page = sign_in(app, "victor")
    refused = post(app, f"/imports/{world.running.id}/request",
                   csrf_of(page), 409)
    assert "running" in refused.html.select_one("#error-message").text


@pytest.mark.parametrize("who", WHO)
def test_review_status_changes_are_for_operators(world, app, codeimport,
                                                 who):
    page = sign_in(app, who)
    path = f"/imports/{world.pending.id}/review"
    if who in ("anonymous", "alice"):
        post(app, path, csrf_of(page), 403, review_status="SUSPENDED")
        codeimport.abort()
        assert world.pending.review_status == CodeImportReviewStatus.REVIEWED
        return
    for status, job_after in (("SUSPENDED", False), ("REVIEWED", True),
                              ("INVALID", False)):
        page = post(app, path, csrf_of(page), 303,
                    review_status=status).follow()
        assert page.html.select_one("#review-status").text == status
        codeimport.abort()
        assert world.pending.review_status.name == status
        assert (world.pending.import_job is not None) == job_after
    assert events_of(codeimport, world.pending).count(
        CodeImportEventType.MODIFY) == 3


def test_review_status_must_be_one_of_the_buttons(world, app, codeimport):
    page = sign_in(app, "victor")
    for bad in ("FAILING", "NEW", "", "<script>"):
        refused = post(app, f"/imports/{world.pending.id}/review",
                       csrf_of(page), 400, review_status=bad)
        assert "<script>" not in refused.text
    codeimport.abort()
    assert world.pending.review_status == CodeImportReviewStatus.REVIEWED


@pytest.mark.parametrize("who", WHO)
def test_machine_state_is_for_admins(world, app, codeimport, who):
    page = sign_in(app, who)
    path = "/machines/importer-1/state"
    if who != "ada":
        post(app, path, csrf_of(page), 403, action="offline")
        codeimport.abort()
        assert world.machine.state == CodeImportMachineState.ONLINE
        return
    for action, state in (("quiesce", "QUIESCING"), ("offline", "OFFLINE"),
                          ("online", "ONLINE")):
        page = post(app, path, csrf_of(page), 303, action=action,
                    message="<maintenance>").follow()
        assert page.html.select_one("#machine-state").text.startswith(state)
        assert "&lt;maintenance&gt;" in page.text
        codeimport.abort()
        assert world.machine.state.name == state
    kinds = [e.event_type.name for e in world.machine.events][:3]
    assert kinds == ["ONLINE", "OFFLINE", "QUIESCE"]
    assert [e.person.name for e in world.machine.events[:3]] == ["ada"] * 3


def test_machine_state_refuses_what_the_state_does_not_allow(world, app):
    page = sign_in(app, "ada")
    refused = post(app, "/machines/importer-1/state", csrf_of(page), 409,
                   action="online")
    assert "importer-1" in refused.html.select_one("#error-message").text
    post(app, "/machines/importer-1/state", csrf_of(page), 400,
         action="explode")
    post(app, "/machines/nowhere/state", csrf_of(page), 404, action="online")


@pytest.mark.parametrize("path, fields", [
    ("/imports/{failing}/retry", {}),
    ("/imports/{pending}/request", {}),
    ("/imports/{pending}/review", {"review_status": "SUSPENDED"}),
    ("/machines/importer-1/state", {"action": "offline"}),
    ("/logout", {}),
])
def test_every_form_needs_its_csrf_token(world, app, codeimport, path,
                                         fields):
    sign_in(app, "ada")
    path = path.format(failing=world.failing.id, pending=world.pending.id)
    for token in (None, "forged"):
        data = dict(fields)
        if token is not None:
            data["csrf_token"] = token
        refused = app.post(path, data, status=400)
        assert "Form expired" in refused.text
    codeimport.abort()
    assert world.failing.review_status == CodeImportReviewStatus.FAILING
    assert world.pending.review_status == CodeImportReviewStatus.REVIEWED
    assert world.pending.import_job.requesting_user is None
    assert world.machine.state == CodeImportMachineState.ONLINE
    assert app.get("/").html.select_one("#signed-in-as").text == "ada"


def test_sign_in_needs_the_csrf_token_too(world, app):
    app.get("/login")
    app.post("/login", {"name": "alice", "password": "alice-secret"},
             status=400)


def test_a_token_from_another_session_is_refused(world, app):
    import webtest

    other = webtest.TestApp(app.app)
    stolen = csrf_of(sign_in(other, "victor"))
    sign_in(app, "victor")
    app.post(f"/imports/{world.pending.id}/review",
             {"review_status": "SUSPENDED", "csrf_token": stolen},
             status=400)
