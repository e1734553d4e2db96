"""codeimport: keep mirrors of foreign version-control repositories fresh."""

__all__ = ["__version__"]

__version__ = "0.1.0"
