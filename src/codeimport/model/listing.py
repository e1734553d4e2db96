"""`CodeImportListing`: the imports overview in one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from zope.interface import implementer

from codeimport.enums import CodeImportJobState
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import CodeImportReviewStatus
from codeimport.enums import RevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.listing import LISTING_FILTERS
from codeimport.interfaces.listing import LISTING_SORTS
from codeimport.interfaces.listing import ICodeImportListing
from codeimport.model.context import StoreUtility
from codeimport.model.rules import consecutive_failures

__all__ = ["CodeImportListing", "CodeImportSummary", "SUMMARY_FIELDS"]


@dataclass(frozen=True)
class CodeImportSummary:
    """One import as lists show it; `now` is the database's time."""

    id: int
    unique_name: str
    owner: str
    project: str
    name: str
    rcs_type: object
    source: str
    review_status: object
    job_state: object
    next_due: datetime | None
    last_status: object
    last_finished: datetime | None
    consecutive_failures: int
    date_last_successful: datetime | None
    now: datetime

    @property
    def freshness(self) -> timedelta | None:
        """Time since the last successful run; None if there was none."""
        if self.date_last_successful is None:
            return None
        return self.now - self.date_last_successful


SUMMARY_FIELDS = tuple(CodeImportSummary.__dataclass_fields__) + (
    "freshness",)

_SELECT = f"""
SELECT c.id, b.unique_name, o.name, b.project, b.name, c.rcs_type,
       COALESCE(c.url, c.cvs_root || ' ' || c.cvs_module),
       c.review_status, j.state, j.date_due, lr.status, lr.date_created,
       {consecutive_failures("c.id")},
       c.date_last_successful, CURRENT_TIMESTAMP
FROM codeimport c
JOIN branch b ON b.id = c.branch
JOIN person o ON o.id = c.owner
LEFT JOIN codeimportjob j ON j.code_import = c.id
LEFT JOIN LATERAL (
    SELECT r.status, r.date_created FROM codeimportresult r
    WHERE r.code_import = c.id
    ORDER BY r.date_created DESC, r.id DESC LIMIT 1) lr ON true
"""

_ORDER = {
    "name": "b.unique_name",
    "last-result": "lr.date_created DESC NULLS LAST, b.unique_name",
    "next-due": "j.date_due NULLS LAST, b.unique_name",
    "failures": "13 DESC, b.unique_name",
    "freshness": "c.date_last_successful NULLS FIRST, b.unique_name",
}


def _like(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace("%", "\\%")
               .replace("_", "\\_"))
    return f"%{escaped}%"


@implementer(ICodeImportListing)
class CodeImportListing(StoreUtility):
    """See `ICodeImportListing`."""

    def search(self, text=None, filter=None, rcs_type=None,
               review_status=None, sort="name", limit=None):
        """See `ICodeImportListing`."""
        if filter is not None and filter not in LISTING_FILTERS:
            raise CodeImportValidationError(
                f"Unknown filter {filter!r}; expected one of "
                f"{', '.join(LISTING_FILTERS)}.")
        if sort not in LISTING_SORTS:
            raise CodeImportValidationError(
                f"Unknown sort {sort!r}; expected one of "
                f"{', '.join(LISTING_SORTS)}.")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise CodeImportValidationError(
                "limit must be a whole number, zero or more.")
        where, params = [], []
        if text:
            where.append("(b.unique_name ILIKE ? OR COALESCE(c.url, "
                         "c.cvs_root || ' ' || c.cvs_module) ILIKE ?)")
            params += [_like(text), _like(text)]
        if filter == "failing":
            where.append("c.review_status = ?")
            params.append(CodeImportReviewStatus.FAILING.value)
        elif filter == "running":
            where.append("j.state = ?")
            params.append(CodeImportJobState.RUNNING.value)
        elif filter == "never-succeeded":
            where.append("c.date_last_successful IS NULL")
        if rcs_type is not None:
            where.append("c.rcs_type = ?")
            params.append(rcs_type.value)
        if review_status is not None:
            where.append("c.review_status = ?")
            params.append(review_status.value)
        query = _SELECT
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY " + _ORDER[sort]
        if limit is not None:
            query += " LIMIT ?"
            params.append(limit)
        return [_summary(row) for row in self._store.execute(query, params)]


def _item(enum, value):
    return None if value is None else enum.items[value]


def _summary(row) -> CodeImportSummary:
    (id, unique_name, owner, project, name, rcs, source, review, job_state,
     due, last_status, last_finished, failures, last_success, now) = row
    return CodeImportSummary(
        id=id, unique_name=unique_name, owner=owner, project=project,
        name=name, rcs_type=_item(RevisionControlSystems, rcs),
        source=source or "",
        review_status=_item(CodeImportReviewStatus, review),
        job_state=_item(CodeImportJobState, job_state), next_due=due,
        last_status=_item(CodeImportResultStatus, last_status),
        last_finished=last_finished, consecutive_failures=failures,
        date_last_successful=last_success, now=now)
