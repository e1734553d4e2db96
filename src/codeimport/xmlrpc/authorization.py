"""What each credential may do: its endpoints and the machines it acts for.

A credential (`codeimport.xmlrpc.auth`) carries a `Grant`: the endpoints
it may call (`ENDPOINT_NAMES`) and, optionally, the host names or shell
patterns (``importer-*``) of the import machines it may act for.  The
service checks the endpoint before it reads the request (HTTP 403), and
`authorize` checks each call against `ACTS_FOR`, the one table saying
which machine a call acts for, before the method runs (fault 911,
`MachineAccessDeniedFault`):

* a call naming a machine (``getJobForMachine``, ``setMachineOnline``
  ...) acts for that machine; naming an unknown one creates it, so only
  a credential allowed to act for that name can create a machine;
* a call naming a job (``updateHeartbeat``, ``finishJobID``,
  ``reclaimJobID``, ``getImportDataForJobID``) acts for the machine
  running the job: a machine heartbeats, finishes, reclaims and reads
  only its own jobs (a PENDING job runs nowhere, so no host-bound
  credential may touch it); ``recordLateResult`` acts for the machine
  that ran the reclaimed job it names;
* the branch puller's ``recordSuccess`` acts for the host it names.

A credential with no HOSTS acts for every machine, as every credential
did before grants existed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from codeimport.errors import MachineAccessDenied
from codeimport.xmlrpc import arguments

__all__ = [
    "ACTS_FOR",
    "ENDPOINT_NAMES",
    "Grant",
    "HOST",
    "JOB",
    "MISSING",
    "RECLAIMED_JOB",
    "authorize",
]

#: Every endpoint a credential may be bound to: the two XML-RPC APIs and
#: the Prometheus metrics.
ENDPOINT_NAMES = ("codeimportscheduler", "authserver", "metrics")

HOST = "host"
JOB = "job"
RECLAIMED_JOB = "reclaimed job"
#: What a machine lookup answers for a job that does not exist.
MISSING = object()

#: endpoint -> method -> what the call acts for: (HOST, i) the machine
#: named by argument i, (JOB, i) the machine running the job whose id is
#: argument i, (RECLAIMED_JOB, i) the machine that ran the reclaimed job
#: whose id is argument i, or None for nothing machine-specific.  A
#: method missing here is refused to every host-bound credential (tests
#: check that every method has a row).
ACTS_FOR = {
    "codeimportscheduler": {
        "getJobForMachine": (HOST, 0),
        "getImportDataForJobID": (JOB, 0),
        "updateHeartbeat": (JOB, 0),
        "finishJobID": (JOB, 0),
        "recordLateResult": (RECLAIMED_JOB, 0),
        "reclaimJobID": (JOB, 0),
        "setMachineOnline": (HOST, 0),
        "setMachineOffline": (HOST, 0),
        "setMachineQuiescing": (HOST, 0),
        "getMachineState": (HOST, 0),
        "getMachineOfflineReason": (HOST, 0),
    },
    "authserver": {
        "acquireBranchToPull": None,
        "startMirroring": None,
        "mirrorComplete": None,
        "mirrorFailed": None,
        "requestMirror": None,
        "recordSuccess": (HOST, 1),
    },
}


@dataclass(frozen=True)
class Grant:
    """What the credential called `name` may do.

    :param endpoints: the names (`ENDPOINT_NAMES`) it may call; None
        for every endpoint.
    :param hosts: host names and shell patterns of the machines it may
        act for (matched case-sensitively, as machine names are stored);
        None for every machine.
    """

    name: str
    endpoints: frozenset | None = None
    hosts: tuple | None = None

    def mayCall(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def mayActFor(self, hostname: str) -> bool:
        if self.hosts is None:
            return True
        return any(fnmatch.fnmatchcase(hostname, pattern)
                   for pattern in self.hosts)


def authorize(grant: Grant, endpoint: str, method: str, params,
              machine_of) -> None:
    """Refuse the call unless `grant` may act for what it is about.

    Run it in the call's transaction, before the method.  Arguments are
    decoded as the methods decode them, so a bad one gets the fault the
    method would give.

    :param machine_of: ``machine_of(kind, job_id)``, called for
        host-bound grants only: the host name of the machine the job
        (`JOB`: running; `RECLAIMED_JOB`: reclaimed) runs or ran on, None
        if it runs nowhere, `MISSING` if there is no such job.

    :raises MachineAccessDenied: when the call acts for a machine the
        grant does not cover.
    """
    if grant.hosts is None:
        return
    rules = ACTS_FOR.get(endpoint, {})
    if method not in rules:
        raise MachineAccessDenied(
            f"Credential {grant.name!r} may not call {method}.")
    rule = rules[method]
    if rule is None:
        return
    kind, index = rule
    if kind == HOST:
        hostname = arguments.text(params[index], "hostname",
                                  max_length=255)
        if not grant.mayActFor(hostname):
            raise MachineAccessDenied(
                f"Credential {grant.name!r} may not act for machine "
                f"{hostname!r}.")
        return
    job_id = arguments.integer(params[index], "job_id")
    hostname = machine_of(kind, job_id)
    if hostname is MISSING:
        return  # the method answers NoSuchCodeImportJob
    if hostname is None or not grant.mayActFor(hostname):
        raise MachineAccessDenied(
            f"Credential {grant.name!r} may not act for job {job_id}: it "
            "does not run on a machine the credential may act for.")
