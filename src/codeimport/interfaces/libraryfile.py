"""Stored files: the full logs of import runs."""

from __future__ import annotations

from zope.interface import Interface
from zope.schema import Datetime
from zope.schema import Int
from zope.schema import TextLine

__all__ = ["ILibraryFileAlias", "ILibraryFileAliasSet"]


class ILibraryFileAlias(Interface):
    """A named, immutable file stored in the database."""

    id = Int(title="ID", readonly=True, required=True)
    filename = TextLine(title="File name", readonly=True, required=True)
    mimetype = TextLine(title="MIME type", readonly=True, required=True)
    date_created = Datetime(title="Date created", readonly=True)
    content_length = Int(
        title="Size", readonly=True, description="Length in bytes."
    )

    def read():
        """Return the file's content as bytes."""


class ILibraryFileAliasSet(Interface):
    """Store and find files."""

    def create(filename, content, mimetype="text/plain"):
        """Store `content` (bytes) and return its `ILibraryFileAlias`."""

    def get(alias_id):
        """Return the file with this id, or None."""
