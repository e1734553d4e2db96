"""The `codeimport` command: one sub-command per script module."""

from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "main"]

# sub-command -> (module with main(argv) -> int, or "module:function",
# one-line help)
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
    "imports": (
        "codeimport.scripts.imports:main_imports",
        "list imports (search, filters, --json)",
    ),
    "show": (
        "codeimport.scripts.imports:main_show",
        "show one import: details, job, results, events, logs",
    ),
    "suspend": ("codeimport.scripts.review:main_suspend",
                "stop running an import (SUSPENDED)"),
    "resume": ("codeimport.scripts.review:main_resume",
               "run a suspended or invalid import again (REVIEWED)"),
    "invalidate": ("codeimport.scripts.review:main_invalidate",
                   "mark an import INVALID"),
    "retry": ("codeimport.scripts.review:main_retry",
              "try a FAILING import again, now"),
    "person": ("codeimport.scripts.people:main_person",
               "create a person (person add)"),
    "team": ("codeimport.scripts.people:main_team",
             "create a team, add a member (team add, team add-member)"),
    "machines": ("codeimport.scripts.machines",
                 "list import machines (--json)"),
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
        "register a code import (Git, Subversion, Mercurial, Bazaar, "
        "CVS)",
    ),
    "source-credentials": (
        "codeimport.scripts.credentials",
        "set or remove a private source's credentials",
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
    module_name, _, function = COMMANDS[name][0].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, function or "main")(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
