"""The import-machine side: import worker, worker monitor and dispatcher.

Nothing here touches the database.  The dispatcher asks the scheduler for
jobs over XML-RPC and starts one monitor per job; the monitor runs the
import worker as a child process, reports heartbeats and the result.
"""

from __future__ import annotations

__all__: list[str] = []
