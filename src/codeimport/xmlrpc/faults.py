"""The faults' old path: they live in `codeimport.wire.faults`."""

from codeimport.wire.faults import *  # noqa: F401,F403
from codeimport.wire.faults import __all__  # noqa: F401
