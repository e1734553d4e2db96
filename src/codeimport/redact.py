"""Hiding secrets in text shown to people: the one place it is done.

Everything that shows a source URL, a CVSROOT, a command line or a
program's output (the monitor's log, the job logs it uploads, heartbeat
tails, the CLI, the web pages, error messages) passes it through
`redact` first:

* the user information of any URL (``https://user:pass@host/`` and
  ``https://TOKEN@host/``) becomes ``***``: a token often *is* the user
  name, so the whole of it goes;
* the password of a CVSROOT (``:pserver:user:pass@host/path``) becomes
  ``***`` (the user name stays: it is part of the root's identity);
* every known secret (`secrets`: the password the scheduler handed out
  for this job) becomes ``***`` wherever it appears, whatever its length,
  so that a program echoing it in its own words cannot leak it.

Stored URLs never hold credentials (`codeimport.sourcecredentials`
splits them off at registration); this catches everything else.  Kept
free of dependencies: the import worker uses it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "redact", "redact_bytes"]

REDACTED = "***"

# scheme://userinfo@ -- the user information runs to the last "@" before
# the end of the authority ("/", "?", "#", whitespace or a quote).
_AUTHORITY = r"[^/?#\s'\"<>@]*"
_URL_USERINFO = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://){_AUTHORITY}(?:@{_AUTHORITY})*@"
)
# :method:user:password@ -- a CVSROOT with a password.
_CVS_PASSWORD = re.compile(
    r"(?P<head>:[A-Za-z]+:[^:@/\s'\"]+):[^@/\s'\"]*@"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL user information, CVSROOT passwords and each of
    `secrets` (empty ones are ignored) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)
    return _CVS_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)


def redact_bytes(data: bytes, secrets: Iterable[str] = ()) -> bytes:
    """`redact` for raw program output: bytes that are not UTF-8 are
    kept as they are."""
    text = data.decode("utf-8", "surrogateescape")
    return redact(text, secrets).encode("utf-8", "surrogateescape")
