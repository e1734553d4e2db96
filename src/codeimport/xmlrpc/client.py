"""The clients' old path: they live in `codeimport.wire.client`."""

from codeimport.wire.client import *  # noqa: F401,F403
from codeimport.wire.client import __all__  # noqa: F401
