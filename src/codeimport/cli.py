"""The `codeimport` command: one sub-command per script module."""

from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "main"]

# sub-command -> (module with main(argv) -> int, one-line help)
COMMANDS = {
    "initdb": ("codeimport.scripts.initdb", "install or upgrade the schema"),
    "importworker": (
        "codeimport.scripts.importworker",
        "run one import (used by the monitor)",
    ),
    "monitor": (
        "codeimport.scripts.monitor",
        "run and report one import job",
    ),
    "dispatch": (
        "codeimport.scripts.dispatch",
        "take jobs from the scheduler and run monitors",
    ),
    "serve": (
        "codeimport.scripts.serve",
        "serve the scheduler and branch status XML-RPC APIs",
    ),
    "web": (
        "codeimport.scripts.web",
        "serve the web interface (imports, machines, actions)",
    ),
    "watchdog": (
        "codeimport.scripts.watchdog",
        "reclaim stale jobs and take silent machines offline",
    ),
    "status": (
        "codeimport.scripts.status",
        "show machines, running jobs, the queue and latest results",
    ),
    "add-import": (
        "codeimport.scripts.addimport",
        "register a Git code import",
    ),
    "request-import": (
        "codeimport.scripts.requestimport",
        "ask for an import to run as soon as possible",
    ),
    "machine": (
        "codeimport.scripts.machine",
        "set an import machine online, offline or quiescing",
    ),
    "puller": (
        "codeimport.scripts.puller",
        "mirror branches that are due, reporting to the authserver",
    ),
}


def usage() -> str:
    lines = ["usage: codeimport COMMAND [options]", "", "commands:"]
    for name, (_, help_text) in sorted(COMMANDS.items()):
        lines.append(f"  {name:<16} {help_text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"codeimport: unknown command {name!r}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
