"""Where the credentials of a private source are kept: their own table.

``codeimportsourcecredential`` holds one row per import that has
credentials.  The web role (``webapp``, which registers imports) may
write rows and see that they exist, but read neither the user name
(which may be a token) nor the password: a Storm class
would read every column, so these are plain statements.  Only the
scheduler's role reads the password (`credentials_for`), to hand it to
the worker of a running job.
"""

from __future__ import annotations

import re

from codeimport.enums import RevisionControlSystems
from codeimport.errors import CodeImportValidationError
from codeimport.sourcecredentials import SourceCredentials
from codeimport.sourcecredentials import check_credential_scheme
from codeimport.sourcecredentials import split_cvs_root
from codeimport.sourcecredentials import split_url

__all__ = ["clear_credentials", "credentials_changed", "credentials_for",
           "has_credentials", "set_credentials", "split_source"]


def set_credentials(store, code_import_id: int,
                    credentials: SourceCredentials | None) -> None:
    """Store `credentials` for the import (None removes them)."""
    clear_credentials(store, code_import_id)
    if credentials is not None:
        store.execute(
            "INSERT INTO codeimportsourcecredential"
            " (code_import, username, password) VALUES (?, ?, ?)",
            (code_import_id, credentials.username, credentials.password),
            noresult=True)


def clear_credentials(store, code_import_id: int) -> None:
    """Remove the import's credentials, if any."""
    store.execute(
        "DELETE FROM codeimportsourcecredential WHERE code_import = ?",
        (code_import_id,), noresult=True)


def has_credentials(store, code_import_id: int) -> bool:
    """Whether the import has credentials."""
    return store.execute(
        "SELECT 1 FROM codeimportsourcecredential"
        " WHERE code_import = ?", (code_import_id,)).get_one() is not None


def credentials_changed(store, code_import_id: int) -> str | None:
    """When the import's credentials were set (ISO 8601), or None: what
    the audit trail records of them."""
    row = store.execute(
        "SELECT to_char(date_changed AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        " FROM codeimportsourcecredential WHERE code_import = ?",
        (code_import_id,)).get_one()
    return None if row is None else row[0]


def credentials_for(store, code_import_id: int) -> SourceCredentials | None:
    """The import's credentials, or None (the scheduler's role only)."""
    row = store.execute(
        "SELECT username, password FROM codeimportsourcecredential"
        " WHERE code_import = ?", (code_import_id,)).get_one()
    return None if row is None else SourceCredentials(*row)


def split_source(rcs_type, url, cvs_root, credentials):
    """``(url, cvs_root, credentials)`` with any credentials taken out of
    the URL or the CVSROOT and checked.

    :param credentials: those given separately (`SourceCredentials`), or
        None.
    :raises CodeImportValidationError: when credentials come both ways,
        or do not suit the source (a scheme without authentication; a
        CVSROOT that names no user, or another user than them).
    """
    if rcs_type == RevisionControlSystems.CVS:
        cvs_root, password = split_cvs_root(cvs_root)
        if password is None and credentials is None:
            return url, cvs_root, None
        if password is not None and credentials is not None:
            raise CodeImportValidationError(_BOTH)
        match = _CVS_USER.match(cvs_root or "")
        if match is None:
            raise CodeImportValidationError(
                "A CVS password needs a CVSROOT that names the user "
                "(:pserver:user@host/path).")
        user = match.group(1)
        if credentials is None:
            return url, cvs_root, SourceCredentials(user, password)
        if credentials.username != user:
            raise CodeImportValidationError(
                f"The source user name must be the CVSROOT's user, {user}.")
        return url, cvs_root, credentials
    url, in_url = split_url(url)
    if in_url is not None and credentials is not None:
        raise CodeImportValidationError(_BOTH)
    credentials = credentials or in_url
    if credentials is not None:
        check_credential_scheme(url)
    return url, cvs_root, credentials


_BOTH = ("Give the source credentials either in the source or separately, "
         "not both.")
_CVS_USER = re.compile(r"^:[a-z]+:([^:@/]+)@")
