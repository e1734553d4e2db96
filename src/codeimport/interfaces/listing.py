"""The imports overview: one row per import, for lists and dashboards."""

from __future__ import annotations

from zope.interface import Interface

__all__ = ["ICodeImportListing", "LISTING_FILTERS", "LISTING_SORTS"]

#: Filters `ICodeImportListing.search` knows, by name.
LISTING_FILTERS = ("failing", "running", "never-succeeded")
#: Sort orders `ICodeImportListing.search` knows, by name.
LISTING_SORTS = ("name", "last-result", "next-due", "failures", "freshness")


class ICodeImportListing(Interface):
    """Summaries of many imports at once, in a bounded number of queries.

    Each summary holds only what `ICodeImportView`, `ICodeImportJob` and
    `ICodeImportResult` show anyone, so reading it needs no permission.
    """

    def search(text=None, filter=None, rcs_type=None, review_status=None,
               sort="name", limit=None):
        """Return a list of `CodeImportSummary`, one per matching import.

        :param text: a case-insensitive substring of the target's unique
            name or of the source URL (CVSROOT for CVS); None for all.
        :param filter: one of `LISTING_FILTERS`: FAILING imports, imports
            whose job is RUNNING, imports that never succeeded.
        :param rcs_type: a `RevisionControlSystems` item, or None.
        :param review_status: a `CodeImportReviewStatus` item, or None.
        :param sort: one of `LISTING_SORTS`.  "name" is by unique name,
            "last-result" newest first, "next-due" soonest first (no job
            last), "failures" most first, "freshness" stalest first
            (never succeeded first).
        :param limit: the most rows to return; None for all.
        :raises CodeImportValidationError: for an unknown filter or sort.
        """
