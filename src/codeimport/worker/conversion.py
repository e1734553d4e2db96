"""Foreign imports: a converter per source kind, one driver for all of them.

A `Converter` knows one kind of source (Subversion, Mercurial ...).  It
writes the source's history into the target repository under
`STAGING_PREFIX` (``refs/codeimport/staging/heads/master``,
``.../tags/1.0``), keeps whatever it needs to continue next time in the
target's state directory, and says how far it got.  `ConvertingImporter`
does everything else, the same way for every kind:

1. checks the source location against the access policy;
2. opens (or creates) the target and takes its lock;
3. runs the converter with the revision limit of this run;
4. checks the fidelity of what changed (`codeimport.worker.fidelity`):
   the tree of each changed branch tip must equal the source's own
   export, or the run fails and nothing is published;
5. publishes the staged refs in one transaction (`TargetRepository.publish`)
   and ends the log with every published ref and its tip (the result
   records what the puller will mirror);
6. maps the outcome to the worker's exit code: SUCCESS, SUCCESS_PARTIAL
   (the limit was reached: the next chunk is due at once),
   SUCCESS_NOCHANGE, or the failure the converter's error names.

Converters raise the errors below for what they expect (a missing
source, a broken one, a forbidden address); anything else is an
unexpected failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from codeimport.access import ForbiddenURL
from codeimport.addresses import REFUSAL
from codeimport.addresses import ForbiddenAddress
from codeimport.errors import CodeImportError
from codeimport.exitcodes import WorkerExitCode
from codeimport.text import os_error_text
from codeimport.worker.authors import AuthorsFileError
from codeimport.worker.authors import read_authors_file
from codeimport.worker.importworker import Importer
from codeimport.worker.target import STAGING_PREFIX
from codeimport.worker.target import TargetBusy
from codeimport.worker.target import TargetRepository
from codeimport.worker.target import read_manifest
from codeimport.worker.tools import ToolMissing
from codeimport.worker.tools import tool_environment

__all__ = [
    "ConversionError",
    "Converter",
    "ConvertingImporter",
    "Outcome",
    "Progress",
    "SourceBroken",
    "SourceForbidden",
    "SourceInvalid",
    "Unsupported",
]


class ConversionError(CodeImportError):
    """An expected failure of a conversion; `exit_code` says which."""

    exit_code = WorkerExitCode.FAILURE


class SourceInvalid(ConversionError):
    """The source does not exist, cannot be reached or is not of its kind."""

    exit_code = WorkerExitCode.FAILURE_INVALID


class SourceBroken(ConversionError):
    """The source exists but its history cannot be read consistently."""

    exit_code = WorkerExitCode.FAILURE_REMOTE_BROKEN


class SourceForbidden(ConversionError):
    """The source, or somewhere it leads, is not allowed by the policy."""

    exit_code = WorkerExitCode.FAILURE_FORBIDDEN


class Unsupported(ConversionError):
    """The source uses something this importer cannot convert."""

    exit_code = WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE


@dataclass(frozen=True)
class Outcome:
    """How far a conversion run got.

    :ivar complete: False when the run stopped at its revision limit
        with more history left (the result is SUCCESS_PARTIAL).
    :ivar done: revisions (changesets, commits) converted in this run.
    """

    complete: bool
    done: int = 0


class Progress:
    """Writes where a long conversion is: ``r1200/5000 (24%), 3 min left``.

    At most one line every `interval` seconds, plus the last one, so the
    heartbeat's log tail always shows recent progress without the log
    growing with every revision.
    """

    def __init__(self, say: Callable[[str], None], unit: str = "r",
                 interval: float = 2.0, clock=time.monotonic):
        self._say = say
        self._unit = unit
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last = None

    def __call__(self, position: int, total: int | None = None,
                 done: int | None = None, final: bool = False) -> None:
        """Report `position` (a revision number or a count) of `total`.

        :param done: how many were converted in this run, for the rate
            and the estimate; `position` is used when not given.
        """
        now = self._clock()
        if not final and self._last is not None and (
                now - self._last < self._interval):
            return
        self._last = now
        done = position if done is None else done
        text = f"{self._unit}{position}"
        if total:
            text += f"/{total} ({100 * position // max(total, 1)}%)"
        elapsed = now - self._started
        if total and done and elapsed > 0 and position < total:
            left = (total - position) * elapsed / done
            text += f", about {_duration(left)} left"
        self._say(text)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class Converter:
    """Converts one kind of source into the target; subclassed per kind.

    :ivar request: the `ImportRequest` (URL, CVS module ...).
    :ivar target: the locked `TargetRepository`.
    :ivar say: writes one line to the job's log.
    :ivar progress: a `Progress` for this run.
    :ivar env: the environment for programs (`run_tool`'s `env`):
        private HOME, no prompts, the policy's network settings.
    :ivar work_dir: a scratch directory, removed after the run.
    :ivar authors: the operator's ``{user name: (full name, email)}``
        (`codeimport.worker.authors`); empty when none was given.
    :ivar credentials: the private source's `SourceCredentials`, or None;
        each converter hands them to its tool its own way, never in an
        argument, the environment or the log.
    """

    #: The ``rcs`` of the worker argument contract this converter serves.
    rcs = ""
    #: The unit of progress lines: "r" for revisions, "" for counts.
    progress_unit = ""
    #: The branch HEAD points at once published.
    head = "refs/heads/master"

    def __init__(self, request, target: TargetRepository, say, progress,
                 env: dict[str, str], work_dir: str, policy,
                 authors: dict[str, tuple[str, str]] | None = None,
                 credentials=None):
        self.request = request
        self.target = target
        self.say = say
        self.progress = progress
        self.env = env
        self.work_dir = work_dir
        self.policy = policy
        self.authors = authors or {}
        self.credentials = credentials

    def stagingRef(self, published_name: str) -> str:
        """Where to stage the ref published as `published_name`
        (``refs/heads/x`` or ``refs/tags/x``)."""
        if not published_name.startswith("refs/"):
            raise ValueError(f"not a ref name: {published_name!r}")
        return STAGING_PREFIX + published_name[len("refs/"):]

    def convert(self, limit: int | None) -> Outcome:
        """Bring the staged refs up to date with the source.

        Convert at most `limit` revisions (None: all), leave the staged
        refs consistent (every staged ref a complete, connected history)
        and the state saved, and return the `Outcome`.
        """
        raise NotImplementedError

    def exportTree(self, ref: str, destination: str) -> None:
        """Write the source's own export of published branch `ref`
        (``refs/heads/x``) at the revision last converted into the empty
        directory `destination` (``svn export``, ``hg archive`` ...).

        Used by the fidelity check; raise `Unsupported` for a ref that has
        no counterpart the source can export.
        """
        raise NotImplementedError

    def exportTrees(self, exports: dict[str, str]) -> list[str]:
        """`exportTree` for several refs: ``{ref: destination}``.

        Returns the refs exported (a ref without counterpart is left
        out).  One `exportTree` each by default; a converter whose tool
        is slow to start exports them all in one run.
        """
        exported = []
        for ref, destination in exports.items():
            try:
                self.exportTree(ref, destination)
            except Unsupported:
                continue
            exported.append(ref)
        return exported


class ConvertingImporter(Importer):
    """The `Importer` that drives a `Converter` class (see module doc)."""

    converter_class: type[Converter] = Converter

    def run(self) -> int:
        """See `Importer`."""
        say = self.context.say
        try:
            with TargetRepository(self.context.target_store,
                                  self.request.target_id) as target:
                work_dir = tempfile.mkdtemp(prefix="codeimport-work-")
                try:
                    return self._run(target, work_dir)
                except Exception:
                    if not self.context.egressRefused:
                        raise
                    # Whatever the program said about the refused
                    # connection, the reason is the address policy.
                    say(f"Forbidden: {self.request.url} (or a place it "
                        f"leads to): {REFUSAL}.")
                    return WorkerExitCode.FAILURE_FORBIDDEN
                finally:
                    shutil.rmtree(work_dir, ignore_errors=True)
        except ForbiddenAddress as error:
            say(f"Forbidden: {error}.")
            return WorkerExitCode.FAILURE_FORBIDDEN
        except TargetBusy as error:
            say(f"Cannot import now: {error}.")
            return WorkerExitCode.FAILURE
        except ForbiddenURL as error:
            say(str(error))
            return WorkerExitCode.FAILURE_FORBIDDEN
        except ToolMissing as error:
            say(f"Cannot import: {error}.")
            return WorkerExitCode.FAILURE_UNSUPPORTED_FEATURE
        except ConversionError as error:
            say(str(error))
            return error.exit_code
        except AuthorsFileError as error:
            say(f"Cannot import: {error}")
            return WorkerExitCode.FAILURE
        except subprocess.CalledProcessError as error:
            # git on the target itself failed; its message names paths.
            say(f"Cannot import: git failed on the import's target (exit "
                f"status {error.returncode}).")
            return WorkerExitCode.FAILURE
        except OSError as error:
            # Unexpected: a full disk, a target store that is no
            # directory, a name too long for it.  One line for the job's
            # log, without the machine's paths, never a traceback.
            say(f"Cannot import: {os_error_text(error)} on the import "
                "machine.")
            return WorkerExitCode.FAILURE

    def _run(self, target: TargetRepository, work_dir: str) -> int:
        from codeimport.worker import fidelity

        converter_class = self.converter_class
        home = os.path.join(work_dir, "home")
        os.makedirs(home)
        converter = converter_class(
            request=self.request,
            target=target,
            say=self.context.say,
            progress=Progress(self.context.say,
                              converter_class.progress_unit),
            env=tool_environment(home, self.context.networkEnvironment()),
            work_dir=work_dir,
            policy=self.context.policy,
            authors=(read_authors_file(self.context.authors_file)
                     if self.context.authors_file else None),
            credentials=self.context.credentials,
        )
        limit = self.request.revision_limit
        outcome = converter.convert(limit)
        # Check before publishing: a conversion that does not reproduce
        # its source is never shown to the puller.
        published = target.publishedRefs()
        fidelity.check(converter, target, [
            name for name, sha in target.stagedRefs().items()
            if published.get(name) != sha
        ])
        changes = target.publish(converter.head)
        changed = [
            *changes["added"], *changes["updated"], *changes["deleted"]
        ]
        for kind in ("added", "updated", "deleted"):
            for name in changes[kind]:
                self.context.say(f"  {kind:8} {name}")
        if not outcome.complete:
            self.context.say(
                f"Stopped after {outcome.done} revisions (the limit of "
                f"{limit} per run); the next run continues."
            )
            code = WorkerExitCode.SUCCESS_PARTIAL
        elif not changed and changes["head"] is None:
            self.context.say("No changes.")
            code = WorkerExitCode.SUCCESS_NOCHANGE
        else:
            code = WorkerExitCode.SUCCESS
        self._sayPublished(target)
        return code

    def _sayPublished(self, target: TargetRepository) -> None:
        """End the log with every published ref and its tip, so that the
        run's result records what the puller will mirror."""
        manifest = read_manifest(target.path) or {}
        refs = manifest.get("refs", {})
        self.context.say(
            f"Published {len(refs)} ref(s), HEAD "
            f"{manifest.get('head') or '(none)'}:")
        for name, sha in sorted(refs.items()):
            self.context.say(f"  {sha} {name}")
