"""Authorization per endpoint and per machine, through the real WSGI
application on the test database (issue 13, probe finding 5)."""

from __future__ import annotations

import base64
import xmlrpc.client

import pytest
from test_xmlrpc_app import call
from test_xmlrpc_app import rpc

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineState
from codeimport.wire.interfaces import IBranchStatusAPI
from codeimport.wire.interfaces import ICodeImportScheduler
from codeimport.xmlrpc.app import ENDPOINTS
from codeimport.xmlrpc.app import make_app
from codeimport.xmlrpc.auth import CREDENTIALS_VARIABLE
from codeimport.xmlrpc.auth import load_credentials
from codeimport.xmlrpc.authorization import ACTS_FOR
from codeimport.xmlrpc.authorization import ENDPOINT_NAMES
from codeimport.xmlrpc.authorization import HOST
from codeimport.xmlrpc.authorization import JOB
from codeimport.xmlrpc.authorization import RECLAIMED_JOB
from codeimport.xmlrpc.authorization import Grant
from codeimport.xmlrpc.authorization import authorize

LINES = "\n".join([
    "legacy:l",
    "importer1:i1:codeimportscheduler:importer-1",
    "importer2:i2:codeimportscheduler:importer-2",
    "fleet:f:codeimportscheduler:fleet-*",
    "puller:p:authserver:puller-host",
    "prometheus:m:metrics",
])
MACHINE_FAULT = 911


def auth(user):
    secret = {"legacy": "l", "importer1": "i1", "importer2": "i2",
              "fleet": "f", "puller": "p", "prometheus": "m"}[user]
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


@pytest.fixture
def app(codeimport):
    credentials = load_credentials({CREDENTIALS_VARIABLE: LINES})
    app = make_app(codeimport.dsn, credentials)
    yield app
    app.close()


def as_(user, app, method, *params, path="/codeimportscheduler"):
    return rpc(app, method, *params, path=path, auth=auth(user))


def refused(reply) -> str:
    fault = reply.fault()
    assert fault.faultCode == MACHINE_FAULT, fault
    return fault.faultString


def machine_events(codeimport):
    return codeimport.store.execute(
        "SELECT count(*) FROM codeimportevent WHERE machine IS NOT NULL"
    ).get_one()[0]


# -- endpoints -----------------------------------------------------------

@pytest.mark.parametrize("user, path", [
    ("puller", "/codeimportscheduler"),
    ("importer1", "/authserver"),
    ("prometheus", "/codeimportscheduler"),
    ("importer1", "/metrics"),
    ("puller", "/metrics"),
])
def test_a_credential_on_an_endpoint_it_is_not_bound_to_gets_403(
        app, user, path):
    reply = call(app, b"", path=path, auth=auth(user),
                 verb="GET" if path == "/metrics" else "POST")

    assert reply.code == 403
    assert reply.body == f"This credential may not call {path}.\n".encode()


def test_the_pullers_credential_cannot_take_a_machine_offline(
        codeimport, app):
    # The probe's step: it did, and wrote an OFFLINE event.
    codeimport.factory.makeCodeImportMachine("m1", set_online=True)
    codeimport.commit()
    before = machine_events(codeimport)

    reply = as_("puller", app, "setMachineOffline", "m1", "STOPPED")

    assert reply.code == 403
    codeimport.abort()
    machine = codeimport.utilities.machines.getByHostname("m1")
    assert machine.state == CodeImportMachineState.ONLINE
    assert machine_events(codeimport) == before


def test_an_endpoint_refusal_comes_before_the_body_is_looked_at(app):
    # A body that is not even XML-RPC: the 403 needs none of it.
    reply = call(app, b"junk", path="/authserver", auth=auth("importer1"),
                 length="99999999")

    assert reply.code == 403


def test_bound_credentials_call_their_endpoints(codeimport, app):
    assert as_("puller", app, "acquireBranchToPull", [],
               path="/authserver").result() == []
    reply = call(app, path="/metrics", verb="GET", auth=auth("prometheus"))
    assert reply.code == 200
    assert as_("importer1", app, "getJobForMachine",
               "importer-1", 1).result() == 0


def test_a_legacy_credential_still_calls_everything(codeimport, app):
    assert as_("legacy", app, "setMachineOnline", "anything").result() == 0
    assert as_("legacy", app, "acquireBranchToPull", [],
               path="/authserver").result() == []
    assert call(app, path="/metrics", verb="GET",
                auth=auth("legacy")).code == 200


# -- machines ------------------------------------------------------------

@pytest.mark.parametrize("method, params", [
    ("getJobForMachine", (2,)),
    ("setMachineOnline", ()),
    ("setMachineOffline", ("STOPPED",)),
    ("setMachineQuiescing", ()),
    ("getMachineState", ()),
    ("getMachineOfflineReason", ()),
])
def test_a_host_bound_credential_cannot_act_for_another_machine(
        codeimport, app, method, params):
    codeimport.factory.makeCodeImportMachine("importer-2", set_online=True)
    codeimport.commit()
    before = machine_events(codeimport)

    message = refused(as_("importer1", app, method, "importer-2", *params))

    assert message == ("Credential 'importer1' may not act for machine "
                       "'importer-2'.")
    codeimport.abort()
    machine = codeimport.utilities.machines.getByHostname("importer-2")
    assert machine.state == CodeImportMachineState.ONLINE
    assert machine.heartbeat is None  # not even polled
    assert machine_events(codeimport) == before


@pytest.mark.parametrize("method, params", [
    ("getJobForMachine", (2,)),
    ("setMachineOnline", ()),
])
def test_creating_a_machine_needs_a_credential_allowed_to_act_for_it(
        codeimport, app, method, params):
    refused(as_("importer1", app, method, "rogue-1", *params))
    refused(as_("fleet", app, method, "importer-1", *params))

    assert as_("fleet", app, method, "fleet-17", *params).code == 200
    codeimport.abort()
    machines = codeimport.utilities.machines
    assert machines.getByHostname("rogue-1") is None
    assert machines.getByHostname("importer-1") is None
    assert machines.getByHostname("fleet-17").state == (
        CodeImportMachineState.ONLINE)


def test_a_host_bound_credential_drives_its_own_machine(codeimport, app):
    job = codeimport.factory.makeCodeImportJob()
    codeimport.commit()

    assert as_("importer1", app, "setMachineOnline", "importer-1").result() \
        == 0
    job_id = as_("importer1", app, "getJobForMachine", "importer-1",
                 1).result()
    assert job_id == job.id
    data = as_("importer1", app, "getImportDataForJobID", job_id).result()
    assert data["arguments"]
    assert as_("importer1", app, "updateHeartbeat", job_id,
               "working").result() == 0
    assert as_("importer1", app, "finishJobID", job_id, "SUCCESS",
               "").result() == 0
    assert as_("importer1", app, "setMachineQuiescing",
               "importer-1").result() == 0
    assert as_("importer1", app, "getMachineState",
               "importer-1").result() == "QUIESCING"


# -- jobs ----------------------------------------------------------------

@pytest.mark.parametrize("method, params", [
    ("updateHeartbeat", ("forged",)),
    ("finishJobID", ("SUCCESS", "")),
    ("reclaimJobID", ()),
    ("getImportDataForJobID", ()),
])
def test_a_machine_cannot_touch_another_machines_job(
        codeimport, app, method, params):
    other = codeimport.factory.makeCodeImportMachine("importer-2",
                                                     set_online=True)
    job = codeimport.factory.makeRunningJob(other)
    codeimport.commit()
    heartbeat, logtail = job.heartbeat, job.logtail

    message = refused(as_("importer1", app, method, job.id, *params))

    assert message == (
        f"Credential 'importer1' may not act for job {job.id}: it does not "
        "run on a machine the credential may act for.")
    codeimport.abort()
    assert job.state == CodeImportJobState.RUNNING
    assert (job.heartbeat, job.logtail) == (heartbeat, logtail)
    assert list(job.code_import.results) == []


@pytest.mark.parametrize("method, params", [
    ("updateHeartbeat", ("forged",)),
    ("finishJobID", ("SUCCESS", "")),
    ("reclaimJobID", ()),
    ("getImportDataForJobID", ()),
])
def test_a_pending_job_runs_nowhere_so_no_host_bound_credential_touches_it(
        codeimport, app, method, params):
    job = codeimport.factory.makeCodeImportJob()
    codeimport.commit()

    refused(as_("fleet", app, method, job.id, *params))


def test_a_late_result_comes_only_from_the_machine_that_ran_the_job(
        codeimport, app):
    other = codeimport.factory.makeCodeImportMachine("importer-2",
                                                     set_online=True)
    job = codeimport.factory.makeRunningJob(other)
    job_id, code_import = job.id, job.code_import
    codeimport.utilities.workflow.reclaimJob(job)
    codeimport.commit()
    results = len(list(code_import.results))

    message = refused(as_("importer1", app, "recordLateResult", job_id,
                          "SUCCESS", ""))

    assert message.startswith(f"Credential 'importer1' may not act for "
                              f"job {job_id}")
    codeimport.abort()
    assert len(list(code_import.results)) == results
    assert as_("importer2", app, "recordLateResult", job_id, "SUCCESS",
               "").result() == 1
    codeimport.abort()
    assert len(list(code_import.results)) == results + 1


def test_a_late_result_for_no_reclaimed_job_gets_the_methods_fault(app):
    assert as_("importer1", app, "recordLateResult", 98765, "SUCCESS",
               "").fault().faultCode == 360


def test_a_missing_job_is_still_fault_360(app):
    fault = as_("importer1", app, "updateHeartbeat", 123456, "").fault()

    assert fault.faultCode == 360


def test_a_bad_argument_gets_the_methods_own_fault(app):
    fault = as_("importer1", app, "updateHeartbeat", "x", "").fault()
    assert fault.faultCode == 904
    fault = as_("importer1", app, "getJobForMachine", 7, 1).fault()
    assert fault.faultCode == 904


def test_the_puller_records_success_only_for_its_own_host(codeimport, app):
    when = xmlrpc.client.DateTime("20261202T10:00:00")

    refused(as_("puller", app, "recordSuccess", "branch-puller", "elsewhere",
                when, when, path="/authserver"))
    assert as_("puller", app, "recordSuccess", "branch-puller",
               "puller-host", when, when, path="/authserver").result()


# -- the table -----------------------------------------------------------

def test_every_method_of_every_endpoint_says_what_it_acts_for():
    interfaces = {"codeimportscheduler": ICodeImportScheduler,
                  "authserver": IBranchStatusAPI}
    assert {path.strip("/") for path in ENDPOINTS} == set(interfaces)
    assert set(interfaces) | {"metrics"} == set(ENDPOINT_NAMES)
    for name, interface in interfaces.items():
        assert set(ACTS_FOR[name]) == set(interface.names(all=True))
        for rule in ACTS_FOR[name].values():
            if rule is not None:
                kind, index = rule
                assert kind in (HOST, JOB, RECLAIMED_JOB)


def test_a_method_missing_from_the_table_is_refused_to_bound_credentials():
    grant = Grant("x", frozenset(ENDPOINT_NAMES), ("h",))

    with pytest.raises(Exception, match="may not call brandNew"):
        authorize(grant, "codeimportscheduler", "brandNew", (), None)
    authorize(Grant("y"), "codeimportscheduler", "brandNew", (), None)
    authorize(Grant("z", frozenset({"codeimportscheduler"})),
              "codeimportscheduler", "brandNew", (), None)
