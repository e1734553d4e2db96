"""Collaborators of model objects, found from the object's own store.

Model objects are loaded by Storm, not built by us, so they cannot be
handed collaborators.  Instead `configure` binds its `Settings` to each
store its utilities use, and a model method builds the utilities it
needs around ``Store.of(self)``.  Nothing here is global.
"""

from __future__ import annotations

from storm.store import Store

from codeimport.settings import Settings

__all__ = ["StoreUtility", "bind_settings", "collaborators", "settings_of"]

_ATTRIBUTE = "_codeimport_settings"
_DEFAULT = Settings()


def bind_settings(store: Store, settings: Settings) -> Store:
    """Make `settings` the ones used by objects loaded through `store`."""
    setattr(store, _ATTRIBUTE, settings)
    return store


def settings_of(store: Store) -> Settings:
    """Return the settings bound to `store` (the defaults if none)."""
    return getattr(store, _ATTRIBUTE, _DEFAULT)


class collaborators:
    """The utilities a model object needs, built around its store."""

    def __init__(self, obj):
        store = Store.of(obj)
        self.store = store
        self.settings = settings_of(store)

        def get_store():
            return store

        from codeimport.model.event import CodeImportEventSet
        from codeimport.model.result import CodeImportResultSet
        from codeimport.model.workflow import CodeImportJobWorkflow

        self.events = CodeImportEventSet(get_store)
        self.results = CodeImportResultSet(get_store)
        self.workflow = CodeImportJobWorkflow(
            get_store, self.settings, self.events, self.results
        )


class StoreUtility:
    """Base of the utilities: they hold a store getter and settings."""

    def __init__(self, get_store, settings: Settings | None = None):
        self._get_store = get_store
        self._settings = settings if settings is not None else _DEFAULT

    @property
    def _store(self) -> Store:
        store = self._get_store()
        if getattr(store, _ATTRIBUTE, None) is not self._settings:
            bind_settings(store, self._settings)
        return store
