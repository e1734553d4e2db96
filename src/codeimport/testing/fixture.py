"""The `codeimport` test fixture object and the test database."""

from __future__ import annotations

import os

from zope.component import getGlobalSiteManager
from zope.security.management import endInteraction
from zope.security.management import queryInteraction
from zope.security.management import setSecurityPolicy
from zope.security.proxy import removeSecurityProxy

from codeimport import database
from codeimport.model.context import unbind_context
from codeimport.registration import Utilities
from codeimport.registration import build_utilities
from codeimport.registration import register_utilities
from codeimport.registration import unconfigure
from codeimport.security import ADMINS
from codeimport.security import VCS_IMPORTS
from codeimport.security import CodeImportSecurityPolicy
from codeimport.security import login_anonymous
from codeimport.security import login_person
from codeimport.security import login_system
from codeimport.settings import Settings
from codeimport.testing import postgres
from codeimport.testing.events import NewEvents
from codeimport.testing.factory import ObjectFactory

__all__ = ["ANONYMOUS", "CodeImportFixture", "TEST_SOURCE_NETWORKS",
           "TestDatabase"]

#: Pass to `CodeImportFixture.login` to browse anonymously.
ANONYMOUS = "anonymous"

#: The ``allowed_source_networks`` of test configurations: the servers
#: tests import from listen on loopback, which production refuses
#: (`codeimport.addresses`).  `CodeImportFixture` (without settings of the
#: test's own) and `codeimport.testing.endtoend.ImportHarness` (unless the
#: test's settings name ``allowed_source_networks``) use it, so new tests
#: that serve sources on 127.0.0.1 work as they are; a test of the refusals
#: passes ``Settings()`` or ``allowed_source_networks=""``.
TEST_SOURCE_NETWORKS = ("127.0.0.0/8", "::1/128")


class TestDatabase:
    """A throw-away database with the schema installed.

    `CODEIMPORT_TEST_DSN` names a database to use as it is (its data is
    deleted); otherwise a database is created on the local server, or on
    an embedded one when no local server answers.
    """

    def __init__(self):
        configured = os.environ.get("CODEIMPORT_TEST_DSN")
        if configured:
            self.server = postgres.find_server(configured)
            self.dsn = configured
            self._name = None
        else:
            self.server = postgres.find_server()
            self._name = f"codeimport_test_{os.getpid()}"
            self.dsn = postgres.create_database(self.server, self._name)
        database.install(self.dsn)

    def reset(self) -> None:
        """Empty every table and recreate the two well-known teams."""
        database.truncate_all(self.dsn)
        store = database.make_store(self.dsn)
        try:
            persons = build_utilities(lambda: store).persons
            persons.newTeam(VCS_IMPORTS, "VCS imports")
            persons.newTeam(ADMINS, "Administrators")
            store.commit()
        finally:
            store.close()

    def close(self) -> None:
        if self._name is not None:
            postgres.drop_database(self.server, self._name)
        self.server.close()


class CodeImportFixture:
    """What a test gets as ``codeimport``.

    While it is active the library is configured in the global site
    manager (so `zope.component.getUtility` works), the codeimport
    security policy is installed and an anonymous visitor is logged in.
    """

    def __init__(self, test_database: TestDatabase,
                 settings: Settings | None = None):
        self.dsn = test_database.dsn
        self.server = test_database.server
        # Test sources are served on loopback; see TEST_SOURCE_NETWORKS.
        self.settings = settings or Settings(
            allowed_source_networks=TEST_SOURCE_NETWORKS)
        self.store = database.make_store(self.dsn)
        get_store = self.get_store
        self.utilities = build_utilities(get_store, self.settings)
        self.factory = ObjectFactory(self.utilities)
        self._old_policy = None

    def get_store(self):
        return self.store

    def setUp(self) -> CodeImportFixture:
        # The registered utilities are proxies of `self.utilities`: one
        # configuration, so the store serves one context.
        register_utilities(getGlobalSiteManager(), self.utilities)
        self._old_policy = setSecurityPolicy(CodeImportSecurityPolicy)
        login_anonymous()
        return self

    def tearDown(self) -> None:
        if queryInteraction() is not None:
            endInteraction()
        if self._old_policy is not None:
            setSecurityPolicy(self._old_policy)
        unconfigure(getGlobalSiteManager())
        self.store.rollback()
        self.store.close()

    def use_settings(self, settings: Settings) -> Utilities:
        """Serve `settings` from now on and return the new utilities.

        The store leaves its old configuration (objects already loaded
        follow the new one), the factory and the registered utilities
        are rebuilt: the way to test a configured number.
        """
        unbind_context(self.store)
        self.settings = settings
        self.utilities = build_utilities(self.get_store, settings)
        self.factory = ObjectFactory(self.utilities)
        registry = getGlobalSiteManager()
        unconfigure(registry)
        register_utilities(registry, self.utilities)
        return self.utilities

    def login(self, who) -> None:
        """Log in as a person, an email address or a name; `ANONYMOUS` or
        None browses anonymously."""
        if who is None or who == ANONYMOUS:
            login_anonymous()
            return
        person = who
        if isinstance(who, str):
            persons = self.utilities.persons
            person = persons.getByEmail(who) or persons.getByName(who)
            if person is None:
                raise LookupError(f"Nobody is called {who!r}.")
        login_person(removeSecurityProxy(person))

    def logout(self) -> None:
        """Act as trusted system code, like a script (no participant)."""
        login_system()

    def commit(self) -> None:
        self.store.commit()

    def abort(self) -> None:
        self.store.rollback()

    def switch_db_user(self, name: str | None) -> None:
        """Commit, then act as database role `name` ("webapp",
        "machineadmin", "importd", "branchpuller"; None for the schema
        owner)."""
        self.store.commit()
        role = database.role_name(name)
        if role is None:
            self.store.execute("RESET ROLE")
        else:
            # role_name() only returns our own, known role names.
            self.store.execute(f'SET ROLE "{role}"')
        self.store.commit()

    def set_fields(self, record, **fields) -> None:
        """Give `record` (proxied or not) values that no API sets, as
        test data: a due date or a heartbeat in the past, a detail
        changed behind the workflow's back.  Then flush, so the database
        holds them.  The one place tests and doctests reach past the
        security proxy."""
        naked = removeSecurityProxy(record)
        for name, value in fields.items():
            setattr(naked, name, value)
        self.store.flush()

    def new_events(self) -> NewEvents:
        """Return a `NewEvents` that lists events created from now on."""
        return NewEvents(self.store)
