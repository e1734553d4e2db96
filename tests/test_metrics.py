"""The Prometheus endpoint of ``codeimport serve``, scraped while real
machines' calls go through a real two-worker service.

The scheduler's calls are timed in whichever worker answers them; every
scrape must add up both workers' figures.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
import xmlrpc.client
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportResultStatus as Status
from codeimport.enums import CodeImportReviewStatus
from codeimport.testing.server import XMLRPCTestServer


@pytest.fixture(scope="module")
def server(codeimport_database):
    service = XMLRPCTestServer(codeimport_database.dsn,
                               extra_args=["--workers", "2"]).start()
    yield service
    service.stop()


def scrape(server, secret=None) -> dict:
    """{(name, labels as a sorted tuple): value} of one scrape."""
    request = urllib.request.Request(server.base_url + "/metrics")
    token = base64.b64encode(
        f"{server.user}:{secret or server.secret}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = (
                sample.value)
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_need_credentials(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.base_url + "/metrics", timeout=10)
    assert info.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as info:
        scrape(server, secret="wrong")
    assert info.value.code == 401


def test_metrics_during_an_end_to_end_run(server, codeimport):
    f = codeimport.factory
    u = codeimport.utilities
    f.makeCodeImport()  # due now, never run: it succeeds below
    stale = f.makeCodeImport()
    failing = f.makeCodeImport(
        review_status=CodeImportReviewStatus.SUSPENDED)
    u.code_imports.get(failing.id).updateFromData(
        {"review_status": CodeImportReviewStatus.FAILING}, None)
    gone = f.makeCodeImportMachine("gone", set_online=True)
    gone.setOffline(CodeImportMachineOfflineReason.WATCHDOG)
    f.makeCodeImportResult(failing, Status.FAILURE, machine=gone)
    codeimport.store.execute(
        "UPDATE codeimport SET date_last_successful = CURRENT_TIMESTAMP"
        " - interval '3 days' WHERE id = ?", (stale.id,))
    codeimport.store.execute(
        "UPDATE codeimportjob SET date_due = CURRENT_TIMESTAMP"
        " - interval '2 hours' WHERE code_import = ?", (stale.id,))
    u.script_activities.recordSuccess(
        "branch-puller", *_window(codeimport), hostname="puller-host")
    codeimport.commit()

    before = scrape(server)
    assert value(before, "codeimport_jobs", state="PENDING") == 2
    assert value(before, "codeimport_jobs", state="RUNNING") == 0
    assert value(before, "codeimport_pending_jobs_due") == 2
    assert value(before, "codeimport_pending_jobs_overdue") == 1
    assert value(before, "codeimport_imports", review_status="FAILING") == 1
    assert value(before, "codeimport_imports", review_status="REVIEWED") == 2
    assert value(before, "codeimport_results_total", status="FAILURE") == 1
    assert value(before, "codeimport_machines", state="OFFLINE") == 1
    assert value(before, "codeimport_machine_state", hostname="gone",
                 state="OFFLINE", reason="WATCHDOG") == 1
    assert value(before, "codeimport_imports_never_succeeded") == 1
    assert value(before, "codeimport_import_freshness_seconds_bucket",
                 le="172800.0") == 0
    assert value(before, "codeimport_import_freshness_seconds_bucket",
                 le="604800.0") == 1
    assert value(before,
                 "codeimport_import_freshness_max_seconds") >= 3 * 86400
    assert value(before, "codeimport_puller_last_run_duration_seconds") == 60

    scheduler = xmlrpc.client.ServerProxy(server.scheduler_url)
    claimed = [scheduler.getJobForMachine("importer-1", 4) for _ in range(2)]
    assert all(claimed)
    scheduler.updateHeartbeat(claimed[0], "working")
    during = scrape(server)
    assert value(during, "codeimport_jobs", state="RUNNING") == 2
    assert value(during, "codeimport_machines", state="ONLINE") == 1
    assert value(during, "codeimport_machine_state", hostname="importer-1",
                 state="ONLINE", reason="") == 1
    assert value(during,
                 "codeimport_running_job_heartbeat_age_seconds_count") == 2
    assert value(during, "codeimport_running_job_heartbeat_age_max_seconds"
                 ) < 300
    scheduler.finishJobID(claimed[0], "SUCCESS", "")
    scheduler.finishJobID(claimed[1], "FAILURE_INVALID", "")
    after = scrape(server)
    assert value(after, "codeimport_results_total", status="SUCCESS") == 1
    assert value(after, "codeimport_results_total",
                 status="FAILURE_INVALID") == 1
    assert value(after, "codeimport_jobs", state="RUNNING") == 0
    # Every call was timed, in whichever of the two workers answered.
    claims = value(after, "codeimport_xmlrpc_call_seconds_count",
                   method="getJobForMachine")
    finishes = value(after, "codeimport_xmlrpc_call_seconds_count",
                     method="finishJobID")
    assert claims == 2 and finishes == 2
    assert value(after, "codeimport_xmlrpc_call_seconds_count",
                 method="updateHeartbeat") == 1
    assert value(after, "codeimport_import_freshness_seconds_bucket",
                 le="3600.0") == 1


def _window(codeimport):
    now = codeimport.store.execute("SELECT CURRENT_TIMESTAMP").get_one()[0]
    return now - timedelta(seconds=60), now


def test_metrics_of_one_process(codeimport, monkeypatch):
    # Without the multi-process directory the process's own figures are
    # served (an application embedded in another WSGI server).
    import webtest

    from codeimport.xmlrpc.app import make_app
    from codeimport.xmlrpc.auth import Credentials

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    application = make_app(codeimport.dsn, Credentials({"m": "s"}))
    try:
        app = webtest.TestApp(application)
        app.authorization = ("Basic", ("m", "s"))
        body = xmlrpc.client.dumps(("nowhere", 1), "getJobForMachine")
        app.post("/codeimportscheduler", body,
                 content_type="text/xml")
        app.post("/codeimportscheduler",
                 xmlrpc.client.dumps((), "noSuchMethod"),
                 content_type="text/xml")
        app.post("/metrics", "", status=405)
        text = app.get("/metrics").text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples}
        assert value(samples, "codeimport_xmlrpc_call_seconds_count",
                     method="getJobForMachine") == 1
        # Unknown names share one label: the series stay bounded.
        assert value(samples, "codeimport_xmlrpc_call_seconds_count",
                     method="other") == 1
        assert value(samples, "codeimport_machines", state="ONLINE") == 1
    finally:
        application.close()
