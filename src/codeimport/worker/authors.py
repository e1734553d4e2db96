"""The operator's authors file: source user names to Git identities.

Foreign systems name a committer by a bare user name (``alice``).  An
operator can map those names to real identities with an authors file,
given to ``codeimport dispatch --authors-file`` (and passed on to every
worker), one mapping a line, in the format ``git svn`` uses::

    # comments and blank lines are ignored
    alice = Alice Liddell <alice@example.org>
    jürgen = Jürgen Müller <jm@example.org>

Names not in the file keep each importer's default mapping.  Keep the
file the same for the whole life of an import: changing it later
changes the identities only of what is imported afterwards.
"""

from __future__ import annotations

import re

from codeimport.errors import CodeImportError

__all__ = ["AuthorsFileError", "read_authors_file"]

_LINE = re.compile(r"^(?P<name>[^=]+?)\s*=\s*(?P<person>[^<>]*?)\s*"
                   r"<(?P<email>[^<>]*)>\s*$")


class AuthorsFileError(CodeImportError):
    """The authors file cannot be read or has a malformed line."""


def read_authors_file(path: str) -> dict[str, tuple[str, str]]:
    """``{user name: (full name, email)}`` from the authors file `path`.

    :raises AuthorsFileError: naming the file and the bad line.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise AuthorsFileError(
            f"Cannot read the authors file {path}: {error}") from None
    authors = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _LINE.match(text)
        if match is None or "\n" in text:
            raise AuthorsFileError(
                f"{path}, line {number}: expected "
                f"'name = Full Name <email>', not {text!r}")
        authors[match.group("name").strip()] = (
            match.group("person"), match.group("email").strip())
    return authors
