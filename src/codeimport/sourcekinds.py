"""Which URLs each kind of source can be imported from: one rule, applied
by registration (`codeimport.validators.check_registered_url`) and by the
import worker (`codeimport.worker.importworker.run_import`).

Kept free of the model's dependencies, so that the worker starts quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeimport.errors import CodeImportValidationError

__all__ = ["SOURCE_KINDS", "SourceKind", "check_source_url"]


@dataclass(frozen=True)
class SourceKind:
    """What one kind of source may be read from: the one rule both
    registration and the import worker apply (`check_source_url`).

    :ivar name: the kind's name in the worker argument contract.
    :ivar label: its name for people.
    :ivar schemes: URL schemes a worker can import it from.
    :ivar local_schemes: schemes allowed only where local sources are
        (the worker's ``anything`` policy; registration when the
        ``allowed_url_schemes`` setting includes ``file``).
    """

    name: str
    label: str
    schemes: tuple[str, ...]
    local_schemes: tuple[str, ...] = ("file",)


#: The URL-addressed source kinds, by worker contract name.  CVS sources
#: are a CVSROOT and a module (`validate_cvs_root`, `validate_cvs_module`).
SOURCE_KINDS = {
    kind.name: kind for kind in (
        SourceKind("git", "Git", ("http", "https", "git"), ("file", "ssh")),
        SourceKind("bzr-svn", "Subversion", ("svn", "http", "https")),
        SourceKind("hg", "Mercurial", ("http", "https")),
        SourceKind("bzr", "Bazaar", ("bzr", "http", "https")),
    )
}


def check_source_url(kind: str, url: str, local: bool) -> str:
    """Refuse `url` unless a worker can import a `kind` source from it;
    return its scheme (``file`` for a local path).

    :param kind: a `SOURCE_KINDS` name.
    :param local: whether local sources (``file:`` URLs, paths) may be
        read here.
    :raises CodeImportValidationError: naming what the kind accepts.
    """
    from codeimport.access import split_location

    source = SOURCE_KINDS[kind]
    try:
        scheme, _ = split_location(url)
    except ValueError as error:
        raise CodeImportValidationError(f"Invalid URL {url!r}: {error}")
    allowed = source.schemes + (source.local_schemes if local else ())
    if scheme not in allowed:
        raise CodeImportValidationError(
            f"{source.label} imports cannot read {scheme} URLs; use "
            f"{', '.join(allowed)}."
        )
    return scheme
