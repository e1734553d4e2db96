"""Results of job runs, and the stored log files they point to (§10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from corehelpers import db_now
from corehelpers import utc

from codeimport.enums import CodeImportResultStatus
from codeimport.errors import CodeImportValidationError

S = CodeImportResultStatus


@pytest.fixture
def results(codeimport):
    return codeimport.utilities.results


def test_new_stores_every_field(codeimport, results):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    machine = f.makeCodeImportMachine()
    nopriv = f.makePerson()
    log = f.makeLibraryFileAlias(content=b"the log\n")
    result = results.new(
        code_import, machine, nopriv, "last lines", log, S.FAILURE_INVALID,
        utc(2020, 1, 1, 8), utc(2020, 1, 1, 12))
    assert (result.code_import, result.machine, result.requesting_user,
            result.log_excerpt, result.log_file, result.status) == (
        code_import, machine, nopriv, "last lines", log, S.FAILURE_INVALID)
    assert result.date_job_started == utc(2020, 1, 1, 8)
    assert result.date_created == utc(2020, 1, 1, 12)
    assert result.date_job_finished == result.date_created
    assert result.job_duration == timedelta(hours=4)
    assert str(result.job_duration) == "4:00:00"
    assert result.log_file.read() == b"the log\n"
    assert repr(result) == f"<CodeImportResult {result.id} FAILURE_INVALID>"


def test_new_without_finish_date_uses_transaction_time(codeimport, results):
    f = codeimport.factory
    result = results.new(
        f.makeCodeImport(), f.makeCodeImportMachine(), None, None, None,
        S.SUCCESS, utc(2020, 1, 1))
    assert result.date_created == db_now(codeimport.store)
    assert result.requesting_user is None and result.log_file is None


def test_getResultsForImport_orders_by_start_descending_not_id(codeimport,
                                                               results):
    f = codeimport.factory
    code_import = f.makeCodeImport()
    middle = f.makeCodeImportResult(code_import, date_started=utc(2020, 2, 1),
                                    date_finished=utc(2020, 2, 2))
    newest = f.makeCodeImportResult(code_import, date_started=utc(2020, 3, 1),
                                    date_finished=utc(2020, 3, 2))
    oldest = f.makeCodeImportResult(code_import, date_started=utc(2020, 1, 1),
                                    date_finished=utc(2020, 1, 2))
    f.makeCodeImportResult()  # another import's result
    expected = [newest, middle, oldest]
    assert results.getResultsForImport(code_import) == expected
    assert code_import.results == expected


def test_results_of_import_without_runs_is_empty(codeimport):
    assert codeimport.factory.makeCodeImport().results == []


def test_library_file_create_and_get(codeimport):
    files = codeimport.utilities.files
    alias = files.create("import.log", b"hello\n")
    assert files.get(alias.id) is alias
    assert (alias.filename, alias.mimetype, alias.content_length) == (
        "import.log", "text/plain", 6)
    assert alias.read() == b"hello\n"
    assert repr(alias) == f"<LibraryFileAlias {alias.id} import.log>"
    assert files.get(alias.id + 1000) is None


def test_library_file_create_with_text_raises(codeimport):
    with pytest.raises(CodeImportValidationError) as info:
        codeimport.utilities.files.create("a.log", "text")
    assert str(info.value) == "File content must be bytes."


@pytest.mark.parametrize("filename", ["", "a/b.log", None])
def test_library_file_create_with_bad_name_raises(codeimport, filename):
    with pytest.raises(CodeImportValidationError) as info:
        codeimport.utilities.files.create(filename, b"x")
    assert str(info.value) == f"Invalid file name: {filename!r}"


def test_script_activity_records_and_finds_latest(codeimport):
    activities = codeimport.utilities.script_activities
    older = activities.recordSuccess(
        "branch-puller", utc(2020, 1, 1), utc(2020, 1, 1, 0, 1), "h1")
    newer = activities.recordSuccess(
        "branch-puller", utc(2020, 1, 2), utc(2020, 1, 2, 0, 1), "h2")
    activities.recordSuccess("other", utc(2021, 1, 1), utc(2021, 1, 1))
    assert activities.getLastActivity("branch-puller") is newer
    assert older.hostname == "h1"
    assert activities.getLastActivity("nothing") is None


def test_script_activity_hostname_defaults_to_this_host(codeimport):
    import socket

    activity = codeimport.utilities.script_activities.recordSuccess(
        "x", utc(2020, 1, 1), utc(2020, 1, 1))
    assert activity.hostname == socket.gethostname()


@pytest.mark.parametrize("started, completed, message", [
    (utc(2020, 1, 2), utc(2020, 1, 1), "date_completed is before "
     "date_started."),
    (utc(2020, 1, 1).replace(tzinfo=None), utc(2020, 1, 1),
     "date_started must be a timezone-aware datetime."),
])
def test_script_activity_bad_dates_raise(codeimport, started, completed,
                                         message):
    with pytest.raises(CodeImportValidationError) as info:
        codeimport.utilities.script_activities.recordSuccess(
            "x", started, completed)
    assert str(info.value) == message
