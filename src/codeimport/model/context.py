"""The configuration a store serves: settings plus the utilities built
for them, bound to the store once.

Model objects are loaded by Storm, not built by us, so they cannot be
handed collaborators.  `codeimport.registration.build_utilities` makes
one frozen context per configuration (its `Utilities`: the `Settings`
and every utility built for them), and each utility binds that context
to the stores it uses.  A record finds it again with `context_of(self)`
and asks it for the registered utilities; it never builds one.

A store serves one configuration.  Binding a context whose settings
differ raises `ConfigurationError`, because objects already loaded
through the store would silently follow whichever configuration
touched it last.  Two contexts with equal settings are interchangeable,
so the first one bound stays.
"""

from __future__ import annotations

from storm.store import Store

from codeimport.errors import ConfigurationError
from codeimport.settings import Settings

__all__ = ["StoreUtility", "bind_context", "context_of", "unbind_context"]

_ATTRIBUTE = "_codeimport_context"


def bind_context(store: Store, context) -> object:
    """Make `context` the one objects loaded through `store` use, and
    return the context the store serves from now on.

    :raises ConfigurationError: if the store already serves a context
        with different settings.
    """
    bound = getattr(store, _ATTRIBUTE, None)
    if bound is None:
        setattr(store, _ATTRIBUTE, context)
        return context
    if bound is context or bound.settings == context.settings:
        return bound
    raise ConfigurationError(
        "This database store already serves a codeimport configuration "
        "with other settings; give each configuration a store of its own.")


def unbind_context(store: Store) -> None:
    """Let `store` serve another configuration (say, between tests).

    Objects loaded through the store follow the next context bound.
    """
    if hasattr(store, _ATTRIBUTE):
        delattr(store, _ATTRIBUTE)


def context_of(obj):
    """Return the context that the store of model object `obj` serves.

    :raises ConfigurationError: if no utility has bound one to it.
    """
    store = Store.of(obj)
    context = getattr(store, _ATTRIBUTE, None)
    if context is None:
        raise ConfigurationError(
            f"{obj!r} was not loaded through a configured store: build the "
            "utilities (codeimport.configure or build_utilities) first.")
    return context


class StoreUtility:
    """Base of the utilities: a store getter, settings and the context
    `build_utilities` attaches once."""

    def __init__(self, get_store, settings: Settings | None = None):
        self._get_store = get_store
        self._settings = settings if settings is not None else Settings()
        self._context = None

    def _attach(self, context) -> None:
        """Belong to `context` (`build_utilities` calls this once)."""
        if self._context is not None:
            raise ConfigurationError("A utility serves one configuration.")
        if context.settings is not self._settings:
            raise ConfigurationError(
                "A utility's settings must be its context's.")
        self._context = context

    @property
    def _store(self) -> Store:
        store = self._get_store()
        context = self._context
        if context is not None and getattr(store, _ATTRIBUTE, None) \
                is not context:
            bind_context(store, context)
        return store
