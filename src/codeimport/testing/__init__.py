"""The test-writer API: fixture object, factory and audit-trail helper."""

from codeimport.testing.events import NewEvents
from codeimport.testing.factory import ObjectFactory
from codeimport.testing.fixture import ANONYMOUS
from codeimport.testing.fixture import CodeImportFixture
from codeimport.testing.fixture import TestDatabase

__all__ = [
    "ANONYMOUS",
    "CodeImportFixture",
    "NewEvents",
    "ObjectFactory",
    "TestDatabase",
]
