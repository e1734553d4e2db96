"""`configure`: the one place utilities are built and registered."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zope.component import getGlobalSiteManager
from zope.security.checker import ProxyFactory

from codeimport import interfaces as api
from codeimport.model.branch import BranchPuller
from codeimport.model.branch import BranchSet
from codeimport.model.codeimportset import CodeImportSet
from codeimport.model.context import StoreUtility
from codeimport.model.event import CodeImportEventSet
from codeimport.model.job import CodeImportJobSet
from codeimport.model.libraryfile import LibraryFileAliasSet
from codeimport.model.listing import CodeImportListing
from codeimport.model.machine import CodeImportMachineSet
from codeimport.model.person import PersonSet
from codeimport.model.queue import CodeImportJobQueue
from codeimport.model.result import CodeImportResultSet
from codeimport.model.scriptactivity import ScriptActivitySet
from codeimport.model.watchdog import CodeImportWatchdog
from codeimport.model.workflow import CodeImportJobWorkflow
from codeimport.security import declare_checkers
from codeimport.settings import Settings

__all__ = [
    "Utilities", "build_utilities", "configure", "register_utilities",
    "unconfigure",
]


@dataclass(frozen=True)
class Utilities:
    """Unproxied utilities, for trusted code (services and scripts).

    Also the context of one configuration (`codeimport.model.context`):
    the stores the utilities use serve these settings, and records find
    their collaborators here.
    """

    settings: Settings
    persons: PersonSet
    branches: BranchSet
    puller: BranchPuller
    code_imports: CodeImportSet
    jobs: CodeImportJobSet
    workflow: CodeImportJobWorkflow
    machines: CodeImportMachineSet
    events: CodeImportEventSet
    results: CodeImportResultSet
    files: LibraryFileAliasSet
    script_activities: ScriptActivitySet
    watchdog: CodeImportWatchdog
    listing: CodeImportListing
    #: The job queue (`codeimport.model.queue`); trusted code only, so
    #: not registered.
    queue: CodeImportJobQueue

    def registrations(self):
        """Yield (interface, utility) pairs, as `configure` registers them.
        """
        yield api.IPersonSet, self.persons
        yield api.IBranchLookup, self.branches
        yield api.IBranchSet, self.branches
        yield api.IBranchPuller, self.puller
        yield api.ICodeImportSet, self.code_imports
        yield api.ICodeImportJobSet, self.jobs
        yield api.ICodeImportJobWorkflow, self.workflow
        yield api.ICodeImportMachineSet, self.machines
        yield api.ICodeImportEventSet, self.events
        yield api.ICodeImportResultSet, self.results
        yield api.ILibraryFileAliasSet, self.files
        yield api.IScriptActivitySet, self.script_activities
        yield api.ICodeImportWatchdog, self.watchdog
        yield api.ICodeImportListing, self.listing


def build_utilities(get_store, settings: Settings | None = None) -> Utilities:
    """Build every utility around `get_store`, unproxied.

    :param get_store: a callable returning the current thread's Storm
        `Store`.
    :param settings: a `Settings`; the defaults if None.
    """
    settings = settings if settings is not None else Settings()
    events = CodeImportEventSet(get_store, settings)
    results = CodeImportResultSet(get_store, settings)
    queue = CodeImportJobQueue(get_store, settings)
    workflow = CodeImportJobWorkflow(get_store, settings, events, queue)
    machines = CodeImportMachineSet(get_store, settings)
    utilities = Utilities(
        settings=settings,
        persons=PersonSet(get_store, settings),
        branches=BranchSet(get_store, settings),
        puller=BranchPuller(get_store, settings),
        code_imports=CodeImportSet(get_store, settings),
        jobs=CodeImportJobSet(get_store, settings, workflow, machines,
                              queue),
        workflow=workflow,
        machines=machines,
        events=events,
        results=results,
        files=LibraryFileAliasSet(get_store, settings),
        script_activities=ScriptActivitySet(get_store, settings),
        watchdog=CodeImportWatchdog(get_store, settings, workflow),
        listing=CodeImportListing(get_store, settings),
        queue=queue,
    )
    for field in dataclasses.fields(Utilities):
        utility = getattr(utilities, field.name)
        if isinstance(utility, StoreUtility):
            utility._attach(utilities)
    return utilities


def configure(registry=None, *, get_store, settings: Settings | None = None):
    """Register every codeimport utility in `registry` and return it.

    The registered utilities are security-proxied, so host code gets the
    same protection as web requests; trusted code uses `build_utilities`.

    :param registry: a `zope.interface.registry.Components`; the global
        site manager if None.
    """
    if registry is None:
        registry = getGlobalSiteManager()
    return register_utilities(registry,
                              build_utilities(get_store, settings))


def register_utilities(registry, utilities: Utilities):
    """Register `utilities` in `registry`, security-proxied; return it.

    For a host (or a test fixture) that already holds the trusted
    utilities of its configuration and wants them registered too.
    """
    declare_checkers()
    for interface, utility in utilities.registrations():
        registry.registerUtility(ProxyFactory(utility), interface)
    return registry


def unconfigure(registry=None) -> None:
    """Remove every codeimport utility from `registry`."""
    if registry is None:
        registry = getGlobalSiteManager()
    for interface in _INTERFACES:
        registry.unregisterUtility(provided=interface)


#: What `Utilities.registrations` registers, in order.
_INTERFACES = tuple(
    interface for interface, _ in Utilities.registrations(
        Utilities(**dict.fromkeys(Utilities.__dataclass_fields__))))
