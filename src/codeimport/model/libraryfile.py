"""Files stored in PostgreSQL: the full logs of import runs."""

from __future__ import annotations

import hashlib

from storm.locals import Int
from storm.locals import RawStr
from storm.locals import Reference
from storm.locals import Storm
from storm.locals import Unicode
from zope.interface import implementer

from codeimport.errors import CodeImportValidationError
from codeimport.interfaces.libraryfile import ILibraryFileAlias
from codeimport.interfaces.libraryfile import ILibraryFileAliasSet
from codeimport.model.columns import UTCDateTime
from codeimport.model.context import StoreUtility

__all__ = ["LibraryFileAlias", "LibraryFileAliasSet", "LibraryFileContent"]


class LibraryFileContent(Storm):
    """The bytes of a stored file."""

    __storm_table__ = "libraryfilecontent"
    id = Int(primary=True)
    date_created = UTCDateTime()
    filesize = Int()
    sha256 = Unicode()
    content = RawStr()

    def __init__(self, content):
        self.content = content
        self.filesize = len(content)
        self.sha256 = hashlib.sha256(content).hexdigest()


@implementer(ILibraryFileAlias)
class LibraryFileAlias(Storm):
    """See `ILibraryFileAlias`."""

    __storm_table__ = "libraryfilealias"
    id = Int(primary=True)
    date_created = UTCDateTime()
    content_id = Int(name="content")
    content = Reference(content_id, LibraryFileContent.id)
    filename = Unicode()
    mimetype = Unicode()

    def __init__(self, content, filename, mimetype):
        self.content = content
        self.filename = filename
        self.mimetype = mimetype

    def __repr__(self):
        return f"<LibraryFileAlias {self.id} {self.filename}>"

    @property
    def content_length(self):
        """See `ILibraryFileAlias`."""
        return self.content.filesize

    def read(self):
        """See `ILibraryFileAlias`."""
        return bytes(self.content.content)


@implementer(ILibraryFileAliasSet)
class LibraryFileAliasSet(StoreUtility):
    """See `ILibraryFileAliasSet`."""

    def create(self, filename, content, mimetype="text/plain"):
        """See `ILibraryFileAliasSet`."""
        if not isinstance(content, bytes):
            raise CodeImportValidationError("File content must be bytes.")
        if not filename or "/" in filename:
            raise CodeImportValidationError(
                f"Invalid file name: {filename!r}"
            )
        store = self._store
        stored = LibraryFileContent(content)
        store.add(stored)
        alias = LibraryFileAlias(stored, filename, mimetype)
        store.add(alias)
        store.flush()
        return alias

    def get(self, alias_id):
        """See `ILibraryFileAliasSet`."""
        return self._store.get(LibraryFileAlias, alias_id)
