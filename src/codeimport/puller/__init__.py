"""The branch puller: mirrors due branches, reporting over XML-RPC.

`codeimport.puller.puller.Puller` runs the acquire / mirror / report
loop; `codeimport.puller.mirror.Mirrorer` copies one branch.
"""

from __future__ import annotations

__all__: list[str] = []
