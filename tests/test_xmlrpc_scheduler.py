"""`CodeImportSchedulerAPI`, called in-process: results and faults."""

from __future__ import annotations

import xmlrpc.client

import pytest

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportMachineOfflineReason
from codeimport.enums import CodeImportMachineState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import ConfigurationError
from codeimport.errors import InvalidJobState
from codeimport.errors import InvalidMachineState
from codeimport.errors import NoSuchCodeImportJob
from codeimport.joblog import LOG_FILE_LIMIT
from codeimport.joblog import LOG_TAIL_CHARACTERS
from codeimport.settings import Settings
from codeimport.wire import faults
from codeimport.xmlrpc.scheduler import CodeImportSchedulerAPI
from codeimport.xmlrpc.scheduler import _idempotently
from codeimport.xmlrpc.scheduler import log_file_name
from codeimport.xmlrpc.scheduler import translate_errors


@pytest.fixture
def api(codeimport):
    return CodeImportSchedulerAPI(codeimport.utilities)


def fault_code(call, *args):
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(*args)
    return info.value.faultCode


# getJobForMachine

def test_getJobForMachine_with_a_due_job_starts_it_and_returns_its_id(
        codeimport, api):
    job = codeimport.factory.makeCodeImportJob()

    assert api.getJobForMachine("importer", 1) == job.id
    assert job.state == CodeImportJobState.RUNNING
    assert job.machine.hostname == "importer"


def test_getJobForMachine_with_nothing_due_returns_0(codeimport, api):
    assert api.getJobForMachine("importer", 1) == 0


def test_getJobForMachine_unknown_host_creates_it_online(codeimport, api):
    api.getJobForMachine("new-host", 1)

    machine = codeimport.utilities.machines.getByHostname("new-host")
    assert machine.state == CodeImportMachineState.ONLINE


@pytest.mark.parametrize("hostname, worker_limit", [
    ("", 1), ("   ", 1), (None, 1), (5, 1), ("x" * 256, 1),
    ("host", "2"), ("host", True), ("host", 2**31), ("host", -1),
    ("host", 1.5), ("ho\x00st", 1), ("ho\ud800st", 1),
])
def test_getJobForMachine_bad_arguments_fault_904(
        api, hostname, worker_limit):
    assert fault_code(api.getJobForMachine, hostname, worker_limit) == 904


# getImportDataForJobID

def test_getImportDataForJobID_returns_the_struct(codeimport, api):
    job = codeimport.factory.makeCodeImportJob()
    branch = job.code_import.branch

    data = api.getImportDataForJobID(job.id)

    assert data == {
        "arguments": job.makeWorkerArguments(),
        "target_url": f"https://code.example.test/{branch.unique_name}",
        "log_file_name": log_file_name(branch),
        "blacklisted_hostnames": [],
    }


def test_getImportDataForJobID_passes_the_configured_blacklist(codeimport):
    settings = Settings(blacklisted_hostnames="localhost, 127.0.0.1",
                        mainsite_hostname="code.example.com")
    api = CodeImportSchedulerAPI(codeimport.use_settings(settings))
    job = codeimport.factory.makeCodeImportJob(
        codeimport.factory.makeCodeImport(
            rcs_type=RevisionControlSystems.GIT,
            target_rcs_type=TargetRevisionControlSystems.BZR))

    data = api.getImportDataForJobID(job.id)

    assert data["blacklisted_hostnames"] == ["localhost", "127.0.0.1"]
    assert data["arguments"][-4:] == [
        "--exclude-host", "localhost", "--exclude-host", "127.0.0.1"]
    assert data["target_url"].startswith("https://code.example.com/~")


def test_log_file_name_drops_the_tilde_and_slashes():
    class Branch:
        unique_name = "~vcs-imports/gnome-terminal/import"

    assert log_file_name(Branch) == "vcs-imports-gnome-terminal-import.log"


@pytest.mark.parametrize("method, extra", [
    ("getImportDataForJobID", ()),
    ("updateHeartbeat", ("tail",)),
    ("finishJobID", ("SUCCESS", "")),
    ("reclaimJobID", ()),
])
def test_job_methods_with_unknown_id_fault_360(api, method, extra):
    with pytest.raises(faults.NoSuchCodeImportJob) as info:
        getattr(api, method)(-1, *extra)
    assert info.value.faultCode == 360
    assert info.value.faultString == "Job -1 not found."


@pytest.mark.parametrize("method, extra", [
    ("updateHeartbeat", (b"not text",)),
    ("finishJobID", ("NO_SUCH_STATUS", "")),
    ("finishJobID", ("SUCCESS", 42)),
])
def test_an_unknown_job_outranks_a_bad_argument(api, method, extra):
    # As when every call looked the job up before its other arguments.
    with pytest.raises(faults.NoSuchCodeImportJob):
        getattr(api, method)(12345, *extra)


@pytest.mark.parametrize("job_id", ["1", None, True, 2**40, 1.0])
def test_job_methods_with_a_non_integer_id_fault_904(api, job_id):
    assert fault_code(api.getImportDataForJobID, job_id) == 904


# updateHeartbeat

def test_updateHeartbeat_records_the_tail_and_returns_0(codeimport, api):
    job = codeimport.factory.makeRunningJob()

    assert api.updateHeartbeat(job.id, "line 1\nline 2") == 0
    codeimport.store.invalidate(job)
    assert job.logtail == "line 1\nline 2"


def test_updateHeartbeat_of_a_pending_job_faults_902(codeimport, api):
    job = codeimport.factory.makeCodeImportJob()

    assert fault_code(api.updateHeartbeat, job.id, "tail") == 902


@pytest.mark.parametrize("tail", [None, 5, b"bytes", ["x"]])
def test_updateHeartbeat_with_a_non_string_tail_faults_904(
        codeimport, api, tail):
    job = codeimport.factory.makeRunningJob()

    assert fault_code(api.updateHeartbeat, job.id, tail) == 904


# finishJobID

def test_finishJobID_with_a_log_stores_it_under_the_log_file_name(
        codeimport, api):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import

    answer = api.finishJobID(job.id, "SUCCESS",
                             xmlrpc.client.Binary(b"log file data\n"))

    assert answer == 0
    [result] = code_import.results
    assert result.status == CodeImportResultStatus.SUCCESS
    assert result.log_file.read() == b"log file data\n"
    assert result.log_file.filename == log_file_name(code_import.branch)
    assert result.log_file.mimetype == "text/plain"
    assert code_import.date_last_successful is not None


def test_finishJobID_accepts_bytes_from_in_process_callers(codeimport, api):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import

    api.finishJobID(job.id, "FAILURE", b"raw log\n")

    assert code_import.results[0].log_file.read() == b"raw log\n"


@pytest.mark.parametrize("log_file", ["", xmlrpc.client.Binary(b"")])
def test_finishJobID_with_an_empty_log_stores_no_file(
        codeimport, api, log_file):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import

    api.finishJobID(job.id, "FAILURE", log_file)

    [result] = code_import.results
    assert result.status == CodeImportResultStatus.FAILURE
    assert result.log_file is None


def test_finishJobID_with_an_unknown_status_faults_901(codeimport, api):
    job = codeimport.factory.makeRunningJob()

    with pytest.raises(faults.UnknownStatusName) as info:
        api.finishJobID(job.id, "NOT_A_STATUS", "")
    assert info.value.faultCode == 901
    assert job.state == CodeImportJobState.RUNNING


@pytest.mark.parametrize("log_file", [None, 0, "some text", ["x"]])
def test_finishJobID_with_a_bad_log_faults_904(codeimport, api, log_file):
    job = codeimport.factory.makeRunningJob()

    assert fault_code(api.finishJobID, job.id, "SUCCESS", log_file) == 904


def test_finishJobID_of_a_pending_job_faults_902(codeimport, api):
    job = codeimport.factory.makeCodeImportJob()

    assert fault_code(api.finishJobID, job.id, "SUCCESS", "") == 902


# reclaimJobID

def test_reclaimJobID_hands_the_job_back_due_now(codeimport, api):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import
    job_id, hostname = job.id, job.machine.hostname
    events = codeimport.new_events()

    assert api.reclaimJobID(job_id) == 0

    assert events.summary() == (
        f"RECLAIM {code_import.branch.unique_name} {hostname}")
    [result] = code_import.results
    assert result.status == CodeImportResultStatus.RECLAIMED
    assert result.log_file is None
    new_job = code_import.import_job
    assert new_job.id != job_id
    assert new_job.state == CodeImportJobState.PENDING
    assert new_job.date_due <= code_import.results[0].date_created


def test_reclaimJobID_of_a_pending_job_faults_902(codeimport, api):
    job = codeimport.factory.makeCodeImportJob()

    assert fault_code(api.reclaimJobID, job.id) == 902
    assert job.state == CodeImportJobState.PENDING


def test_reclaimJobID_twice_faults_360(codeimport, api):
    job_id = codeimport.factory.makeRunningJob().id
    api.reclaimJobID(job_id)

    assert fault_code(api.reclaimJobID, job_id) == 360


# machines

def test_setMachineOnline_creates_an_unknown_machine(codeimport, api):
    assert api.setMachineOnline("fresh") == 0
    assert api.getMachineState("fresh") == "ONLINE"


def test_setMachineOnline_brings_an_offline_machine_online_once(
        codeimport, api):
    machine = codeimport.factory.makeCodeImportMachine("sleepy")
    events = codeimport.new_events()

    api.setMachineOnline("sleepy")
    api.setMachineOnline("sleepy")

    assert machine.state == CodeImportMachineState.ONLINE
    assert events.summary() == "ONLINE sleepy"


def test_setMachineOffline_takes_it_offline_once(codeimport, api):
    machine = codeimport.factory.makeCodeImportMachine(
        "busy", set_online=True)
    events = codeimport.new_events()

    assert api.setMachineOffline("busy", "STOPPED") == 0
    assert api.setMachineOffline("busy", "QUIESCED") == 0

    assert machine.state == CodeImportMachineState.OFFLINE
    assert events.summary() == "OFFLINE busy"


def test_setMachineOffline_of_an_unknown_machine_faults_907(api):
    assert fault_code(api.setMachineOffline, "nobody", "STOPPED") == 907


def test_setMachineOffline_with_an_unknown_reason_faults_908(
        codeimport, api):
    machine = codeimport.factory.makeCodeImportMachine(
        "busy", set_online=True)

    assert fault_code(api.setMachineOffline, "busy", "BORED") == 908
    assert machine.state == CodeImportMachineState.ONLINE


@pytest.mark.parametrize(
    "reason", list(CodeImportMachineOfflineReason.items))
def test_setMachineOffline_accepts_every_reason_name(codeimport, api, reason):
    codeimport.factory.makeCodeImportMachine("busy", set_online=True)

    assert api.setMachineOffline("busy", reason.name) == 0


def test_setMachineQuiescing_quiesces_once_in_the_machines_name(
        codeimport, api):
    machine = codeimport.factory.makeCodeImportMachine(
        "busy", set_online=True)
    events = codeimport.new_events()

    assert api.setMachineQuiescing("busy") == 0
    assert api.setMachineQuiescing("busy") == 0

    assert machine.state == CodeImportMachineState.QUIESCING
    assert events.summary() == "QUIESCE busy"
    assert list(events)[0].person is None
    assert api.getMachineState("busy") == "QUIESCING"


def test_setMachineQuiescing_of_an_offline_machine_faults_909(
        codeimport, api):
    machine = codeimport.factory.makeCodeImportMachine("asleep")

    assert fault_code(api.setMachineQuiescing, "asleep") == 909
    assert machine.state == CodeImportMachineState.OFFLINE


def test_setMachineQuiescing_of_an_unknown_machine_faults_907(api):
    assert fault_code(api.setMachineQuiescing, "nobody") == 907


def test_getMachineOfflineReason_names_the_latest_reason(codeimport, api):
    codeimport.factory.makeCodeImportMachine("busy", set_online=True)
    assert api.getMachineOfflineReason("busy") == ""

    api.setMachineOffline("busy", "WATCHDOG")
    assert api.getMachineOfflineReason("busy") == "WATCHDOG"

    api.setMachineOnline("busy")
    api.setMachineOffline("busy", "STOPPED")
    assert api.getMachineOfflineReason("busy") == "STOPPED"


def test_getMachineOfflineReason_of_an_unknown_machine_is_empty(api):
    assert api.getMachineOfflineReason("nobody") == ""


def test_getMachineState_of_an_unknown_machine_is_empty(api):
    assert api.getMachineState("nobody") == ""


def test_getMachineState_with_a_non_string_faults_904(api):
    assert fault_code(api.getMachineState, 42) == 904


# the error table

def test_translate_errors_picks_the_most_specific_row():
    with pytest.raises(faults.NoSuchCodeImportJob) as info:
        with translate_errors():
            raise NoSuchCodeImportJob(7)
    assert info.value.faultString == "Job 7 not found."

    with pytest.raises(faults.InvalidJobStateFault) as info:
        with translate_errors():
            raise InvalidJobState("The job is RUNNING.")
    assert info.value.faultString == "The job is RUNNING."


def test_translate_errors_lets_other_errors_through():
    with pytest.raises(KeyError):
        with translate_errors():
            raise KeyError("a bug")


def test_translate_errors_lets_unlisted_domain_errors_through():
    with pytest.raises(ConfigurationError):
        with translate_errors():
            raise ConfigurationError("a bug in our set-up")


class RacingMachine:
    """A machine another caller changes between our read and our write."""

    def __init__(self, state, state_after_refusal):
        self.state = state
        self._after = state_after_refusal

    def transition(self):
        self.state = self._after
        raise InvalidMachineState("State of machine m was ONLINE.")


def test_a_machine_transition_lost_to_a_concurrent_equal_one_is_fine():
    machine = RacingMachine(CodeImportMachineState.OFFLINE,
                            CodeImportMachineState.ONLINE)

    _idempotently(machine.transition, machine, CodeImportMachineState.ONLINE)


def test_a_machine_transition_refused_for_another_reason_raises():
    machine = RacingMachine(CodeImportMachineState.OFFLINE,
                            CodeImportMachineState.QUIESCING)

    with pytest.raises(InvalidMachineState):
        _idempotently(machine.transition, machine,
                      CodeImportMachineState.ONLINE)


# bounded data (`codeimport.joblog`)

def test_updateHeartbeat_keeps_only_the_last_lines_of_a_huge_tail(
        codeimport, api):
    job = codeimport.factory.makeRunningJob()
    progress = "".join(f"Receiving objects: {n}\r" for n in range(200_000))

    api.updateHeartbeat(job.id, "x" * 10**6 + "\n" + progress)

    codeimport.store.invalidate(job)
    assert job.logtail == "".join(f"Receiving objects: {n}\r"
                                  for n in range(199_996, 200_000))
    api.updateHeartbeat(job.id, "y" * 10**6)
    codeimport.store.invalidate(job)
    assert job.logtail == "y" * LOG_TAIL_CHARACTERS


def test_finishJobID_copies_the_capped_tail_into_the_excerpt(
        codeimport, api):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import
    api.updateHeartbeat(job.id, "z" * 5 * 10**6 + "\nlast line\n")

    api.finishJobID(job.id, "SUCCESS", "")

    [result] = code_import.results
    assert len(result.log_excerpt) == LOG_TAIL_CHARACTERS
    assert result.log_excerpt.endswith("z\nlast line\n")


def test_finishJobID_keeps_head_and_tail_of_an_oversized_log(
        codeimport, api):
    job = codeimport.factory.makeRunningJob()
    code_import = job.code_import
    log = b"first\n" + b"middle\n" * (LOG_FILE_LIMIT // 7) + b"last\n"

    api.finishJobID(job.id, "SUCCESS", xmlrpc.client.Binary(log))

    [result] = code_import.results
    stored = result.log_file.read()
    assert len(stored) <= LOG_FILE_LIMIT
    assert stored.startswith(b"first\nmiddle\n")
    assert stored.endswith(b"middle\nlast\n")
    assert b"bytes of this log were left out here" in stored


@pytest.mark.parametrize("method, extra", [
    ("getJobForMachine", (1,)),
    ("setMachineOnline", ()),
    ("setMachineOffline", ("STOPPED",)),
    ("setMachineQuiescing", ()),
    ("getMachineState", ()),
    ("getMachineOfflineReason", ()),
])
@pytest.mark.parametrize("hostname", [
    "evil\x1b[31mRED\x1b[0m", "two\nlines", "csi\u009bhost", "rlo\u202ehost",
    "ünïcödé", "a" * 254, "under_score", "-leading", "trailing-",
    "dot..dot", "a" * 64 + ".example.com", "with space", "",
])
def test_machine_methods_refuse_a_bad_host_name_with_904(
        codeimport, api, method, extra, hostname):
    with pytest.raises(faults.InvalidArguments) as info:
        getattr(api, method)(hostname, *extra)
    assert info.value.faultCode == 904
    assert "\x1b" not in info.value.faultString
    assert "\n" not in info.value.faultString
    assert codeimport.utilities.machines.getAll() == []


@pytest.mark.parametrize("hostname", [
    "bazaar-importer", "doesnt-exist-yet", "frobisher.example.com",
    "Importer-1.EXAMPLE.com", "xn--bcher-kva.example", "a" * 63,
    ".".join(["a" * 63] * 3) + "." + "b" * 61, "10.0.0.1",
])
def test_setMachineOnline_accepts_host_names(codeimport, api, hostname):
    assert api.setMachineOnline(hostname) == 0
    assert api.getMachineState(hostname) == "ONLINE"
