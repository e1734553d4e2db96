"""An in-process tour of the scheduler (replaced by the full demo later).

Uses the database named by $CODEIMPORT_DSN, or an embedded PostgreSQL.
"""

from __future__ import annotations

import os
import sys

from codeimport import database
from codeimport.configure import build_utilities
from codeimport.enums import CodeImportResultStatus
from codeimport.enums import RevisionControlSystems
from codeimport.enums import TargetRevisionControlSystems
from codeimport.errors import CodeImportError

__all__ = ["main"]


def main() -> int:
    try:
        server = database.find_server(os.environ.get("CODEIMPORT_DSN"),
                                      allow_local=False)
    except CodeImportError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    name = f"codeimport_demo_{os.getpid()}"
    print(f"demo: PostgreSQL ({server.origin}), database {name}")
    dsn = database.create_database(server, name)
    try:
        database.install(dsn)
        store = database.make_store(dsn)
        u = build_utilities(lambda: store)
        owner = u.persons.newTeam("vcs-imports")
        for project in ("alpha", "beta", "gamma"):
            u.code_imports.new(
                owner, project, "import", RevisionControlSystems.GIT,
                TargetRevisionControlSystems.GIT,
                url=f"https://git.example.org/{project}.git")
        store.commit()
        for hostname in ("importer-1", "importer-2"):
            while True:
                job = u.jobs.getJobForMachine(hostname, 2)
                if job is None:
                    break
                print(f"{hostname} runs {job.code_import.branch.unique_name}")
                u.workflow.updateHeartbeat(job, "fetching...")
                u.workflow.finishJob(job, CodeImportResultStatus.SUCCESS,
                                     None)
                store.commit()
        print("\naudit trail:")
        for event in u.events.getAll():
            words = [event.event_type.name]
            if event.code_import is not None:
                words.append(event.code_import.branch.unique_name)
            if event.machine is not None:
                words.append(event.machine.hostname)
            print("  " + " ".join(words))
        store.close()
        return 0
    finally:
        database.drop_database(server, name)
        server.close()
