"""codeimport: keep mirrors of foreign version-control repositories fresh.

`codeimport.configure(...)` registers the utilities; interfaces live in
`codeimport.interfaces`.  Importing this package has no side effects.
"""

__all__ = ["__version__", "configure"]

__version__ = "0.1.0"


def configure(registry=None, *, get_store, settings=None):
    """See `codeimport.registration.configure`."""
    from codeimport.registration import configure as _configure

    return _configure(registry, get_store=get_store, settings=settings)
