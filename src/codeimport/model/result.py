"""The history of job runs."""

from __future__ import annotations

from storm.expr import Desc
from storm.locals import Int
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import Unicode
from zope.interface import implementer

from codeimport.enums import CodeImportResultStatus
from codeimport.interfaces.result import ICodeImportResult
from codeimport.interfaces.result import ICodeImportResultSet
from codeimport.model.columns import DBEnum
from codeimport.model.columns import UTCDateTime
from codeimport.model.constants import UTC_NOW
from codeimport.model.context import StoreUtility

__all__ = ["CodeImportResult", "CodeImportResultSet"]


@implementer(ICodeImportResult)
class CodeImportResult(Storm):
    """See `ICodeImportResult`."""

    __storm_table__ = "codeimportresult"
    id = Int(primary=True)
    date_created = UTCDateTime()
    code_import_id = Int(name="code_import")
    code_import = Reference(code_import_id, "CodeImport.id")
    machine_id = Int(name="machine")
    machine = Reference(machine_id, "CodeImportMachine.id")
    requesting_user_id = Int(name="requesting_user")
    requesting_user = Reference(requesting_user_id, "Person.id")
    log_excerpt = Unicode()
    log_file_id = Int(name="log_file")
    log_file = Reference(log_file_id, "LibraryFileAlias.id")
    status = DBEnum(enum=CodeImportResultStatus)
    date_job_started = UTCDateTime()

    def __init__(self, code_import, machine, requesting_user, log_excerpt,
                 log_file, status, date_job_started, date_created):
        self.code_import = code_import
        self.machine = machine
        self.requesting_user = requesting_user
        self.log_excerpt = log_excerpt
        self.log_file = log_file
        self.status = status
        self.date_job_started = date_job_started
        self.date_created = date_created

    def __repr__(self):
        return f"<CodeImportResult {self.id} {self.status.name}>"

    @property
    def date_job_finished(self):
        """See `ICodeImportResult`."""
        return self.date_created

    @property
    def job_duration(self):
        """See `ICodeImportResult`."""
        return self.date_job_finished - self.date_job_started


@implementer(ICodeImportResultSet)
class CodeImportResultSet(StoreUtility):
    """See `ICodeImportResultSet`."""

    def getResultsForImport(self, code_import):
        """See `ICodeImportResultSet`."""
        return list(self._store.find(
            CodeImportResult, code_import_id=code_import.id
        ).order_by(Desc(CodeImportResult.date_job_started),
                   Desc(CodeImportResult.id)))

    def new(self, code_import, machine, requesting_user, log_excerpt,
            log_file, status, date_job_started, date_job_finished=None):
        """See `ICodeImportResultSet`."""
        result = CodeImportResult(
            code_import, machine, requesting_user, log_excerpt, log_file,
            status, date_job_started,
            UTC_NOW if date_job_finished is None else date_job_finished,
        )
        store = self._store
        store.add(result)
        store.flush()
        return result
