"""`Puller`: take due branches from the authserver and mirror them.

The puller talks to the database only through the authserver's XML-RPC
methods (`codeimport.wire.client.BranchStatusClient`):

1. ``acquireBranchToPull`` hands out the branch most overdue for a mirror
   and has already recorded the attempt (``startMirroring``);
2. the branch is mirrored (`codeimport.puller.mirror.Mirrorer`);
3. ``mirrorComplete(id, tip)`` or ``mirrorFailed(id, reason)`` reports it.

A run repeats this until nothing is due (or a branch limit is reached),
then records itself with ``recordSuccess("branch-puller", ...)``.  A
stop signal ends the run after the branch in hand: a mirror it cut
short (its ``git`` killed, see `StopSignals.cancelling`) is reported
failed ("interrupted") and requested again, so the next run retries it
at once instead of leaving it in progress for ever; a mirror that was
already complete is reported complete.  Nothing is raised into the
puller at the instant the signal arrives, so it stops cleanly wherever
it was.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone

from codeimport.errors import NoSuchBranch
from codeimport.wire.client import RemoteFault
from codeimport.wire.client import redact_url

__all__ = ["INTERRUPTED", "PullReport", "Puller", "SCRIPT_NAME"]

SCRIPT_NAME = "branch-puller"
INTERRUPTED = "Interrupted: the branch puller was stopped; retrying soon."

logger = logging.getLogger("codeimport.puller")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PullReport:
    """What one run did."""

    mirrored: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    recorded: bool = False

    def __str__(self):
        return (f"mirrored {len(self.mirrored)} branch(es), "
                f"{len(self.failed)} failed")


class Puller:
    """Pulls branches through `client`, copying them with `mirrorer`.

    :param client: a `BranchStatusClient`.
    :param mirrorer: a `Mirrorer`.
    :param branch_type_names: the `BranchType` names to pull; empty
        means the server's default (MIRRORED and IMPORTED).
    :param hostname: recorded with the run (default: this host's name).
    :param stop: a `StopSignals`, to stop after the branch in hand and
        cut its mirror short; None to run uninterrupted.
    """

    def __init__(self, client, mirrorer, branch_type_names=(),
                 hostname: str | None = None, stop=None, clock=utc_now):
        self.client = client
        self.mirrorer = mirrorer
        self.branch_type_names = list(branch_type_names)
        self.hostname = hostname or socket.gethostname()
        self.stop = stop
        self.clock = clock

    def run(self, max_branches: int | None = None) -> PullReport:
        """Pull branches until none is due, `max_branches` were pulled
        or a stop is requested; record the run unless it was stopped.

        :raises OSError, CodeImportError: when the authserver cannot be
            used; the run is then not recorded.
        """
        report = PullReport()
        started = self.clock()
        while max_branches is None or (
                len(report.mirrored) + len(report.failed) < max_branches):
            if self._stopping():
                return report
            if not self.pullNext(report):
                break
        if self._stopping():
            return report
        self.client.recordSuccess(
            SCRIPT_NAME, self.hostname, started, self.clock())
        report.recorded = True
        return report

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.requested

    def pullNext(self, report: PullReport) -> bool:
        """Pull the next due branch; False if none was due."""
        answer = self.client.acquireBranchToPull(self.branch_type_names)
        if not answer:
            return False
        branch_id, pull_url, unique_name, _stacked_on, type_name = answer
        outcome = crash = None
        try:
            outcome = self._mirror(pull_url, unique_name, type_name)
        except Exception as error:
            crash = error
        if self._stopping() and not (outcome and outcome.succeeded):
            # The stop killed the mirror's git (or came before it ran):
            # whatever it reported, the branch was not really tried.
            logger.warning("%s: interrupted", unique_name)
            report.failed.append((unique_name, INTERRUPTED))
            self._report(branch_id, unique_name, "mirrorFailed", INTERRUPTED)
            self._report(branch_id, unique_name, "requestMirror")
            return True
        if crash is not None:
            logger.error("%s: mirroring crashed", unique_name,
                         exc_info=crash)
            reason = (f"Internal error in the branch puller: "
                      f"{type(crash).__name__}.")
            report.failed.append((unique_name, reason))
            self._report(branch_id, unique_name, "mirrorFailed", reason)
            return True
        if outcome.succeeded:
            logger.info("%s: mirrored %s from %s", unique_name,
                        outcome.revision[:12], redact_url(pull_url))
            report.mirrored.append(unique_name)
            self._report(branch_id, unique_name, "mirrorComplete",
                         outcome.revision)
        else:
            reason = redact_url(outcome.reason)
            logger.warning("%s: failed: %s", unique_name, reason)
            report.failed.append((unique_name, reason))
            self._report(branch_id, unique_name, "mirrorFailed", reason)
        return True

    def _mirror(self, pull_url, unique_name, type_name):
        if self.stop is None:
            return self.mirrorer.mirror(pull_url, unique_name, type_name)
        with self.stop.cancelling():
            return self.mirrorer.mirror(pull_url, unique_name, type_name)

    def _report(self, branch_id, unique_name, method, *args) -> None:
        """Call `method` on the server; a branch deleted meanwhile, or a
        refusal, is logged and does not stop the run."""
        try:
            getattr(self.client, method)(branch_id, *args)
        except (NoSuchBranch, RemoteFault) as error:
            logger.warning("%s: %s refused: %s", unique_name, method, error)
