"""Reading untrusted Git repositories with the ``git`` program, safely.

The import worker's Git converter and the branch puller both fetch from
repositories they do not trust; every such ``git`` command is built here
(`source_command`, `source_environment`), so the rules live in one
place:

* only the transports the access policy allows: ``protocol.allow=never``
  with one ``protocol.<name>.allow=always`` per allowed transport, and
  the same list in ``GIT_ALLOW_PROTOCOL`` (which also binds redirects
  and anything git starts itself); ``ext::`` and ``fd::`` never, and a
  ``<helper>::<address>`` location is refused before git runs;
* ``--`` before every user-supplied argument (the caller's URL);
* no prompts and no configuration but ours (`codeimport.worker.tools`
  builds the environment), no hooks (``core.hooksPath`` points nowhere),
  no credential helper but ours for a private source
  (`write_credential_helper`: it reads the job's credentials from a
  private file, so the password is in no argument, environment or
  message), no submodules;
* every connection through the worker's egress proxy when the
  environment names one (`codeimport.worker.egress`: ``http.proxy`` for
  http(s), ``GIT_PROXY_COMMAND`` for git://), which checks each address
  against the source address rule; only then are HTTP redirects
  followed (libcurl's limit of 20), since each redirect target is a new
  connection the proxy checks.  Without a proxy (the puller), and for a
  private source (whose credentials must not follow a redirect to
  another host), redirects are not followed: register the URL the
  source redirects to;
* every object received is checked (``fetch.fsckObjects``,
  ``transfer.fsckObjects``), and a stalled HTTP transfer is abandoned;
* a timeout on every command (`run_tool`).

`GitSourceError` and its two subclasses say what went wrong in words a
repository's owner can act on: `GitSourceUnreadable` (missing, not a
repository, unreachable, refused) and `GitSourceBroken` (a repository
whose objects or refs are damaged).
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Callable

from codeimport.access import AccessPolicy
from codeimport.access import ForbiddenURL
from codeimport.errors import CodeImportError
from codeimport.worker.egress import EGRESS_VARIABLE
from codeimport.worker.tools import ToolFailed
from codeimport.worker.tools import ToolTimedOut
from codeimport.worker.tools import run_tool

__all__ = [
    "GIT_TRANSPORTS",
    "GitSourceBroken",
    "GitSourceError",
    "GitSourceUnreadable",
    "allowed_transports",
    "check_location",
    "fetch",
    "list_remote",
    "source_command",
    "source_environment",
    "transport_of",
    "write_credential_helper",
]

#: Transports git may use for a source, in the policy's scheme names.
GIT_TRANSPORTS = ("http", "https", "git", "ssh", "file")
#: Listing a source's refs is quick; one that takes longer is stuck.
LIST_TIMEOUT = 600.0
#: A transfer slower than 1 byte/s for this long is abandoned (http).
STALL_SECONDS = 300
# "<helper>::<address>": git's remote-helper syntax (ext::, fd::, ...).
_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")

# Output of git that means the source cannot be read at all.
_UNREADABLE = re.compile(
    r"does not appear to be a git repository|not a git repository"
    r"|Could not read from remote repository|repository .* not found"
    r"|unable to access|Could not resolve|Connection refused"
    r"|unable to connect|Connection timed out|No route to host"
    r"|Authentication failed|could not read Username"
    r"|terminal prompts disabled|returned error: [345]\d\d"
    r"|transport .* not allowed|unable to look up|access denied"
    r"|No such file or directory|dubious ownership",
    re.IGNORECASE,
)


class GitSourceError(CodeImportError):
    """A source repository could not be fetched; the message says why."""


class GitSourceUnreadable(GitSourceError):
    """The source is missing, not a Git repository, or unreachable."""


class GitSourceBroken(GitSourceError):
    """The source is a repository whose content cannot be read whole."""


def transport_of(location: str) -> str:
    """The transport git would use for `location`, in the policy's
    scheme names (``ssh`` for scp-like addresses, ``file`` for paths).

    :raises ForbiddenURL: for remote-helper syntax (``ext::...``).
    """
    if _HELPER.match(location):
        raise ForbiddenURL(
            location, "git remote helpers (<helper>::<address>) are "
            "never allowed")
    from codeimport.access import split_location

    try:
        scheme, _ = split_location(location)
    except ValueError as error:
        raise ForbiddenURL(location, f"not a valid URL ({error})") from None
    return {"git+ssh": "ssh", "ssh+git": "ssh"}.get(scheme, scheme)


def allowed_transports(policy: AccessPolicy) -> tuple[str, ...]:
    """The transports `policy` lets git use."""
    return tuple(
        name for name in GIT_TRANSPORTS
        if (policy.allow_local if name == "file"
            else policy.allowed_schemes is None
            or name in policy.allowed_schemes)
    )


def check_location(location: str, policy: AccessPolicy) -> str:
    """Refuse `location` unless `policy` allows it and git can read it
    with an allowed transport; return the transport.

    :raises ForbiddenURL: naming the reason.
    """
    transport = transport_of(location)
    policy.check(location)
    if transport not in allowed_transports(policy):
        raise ForbiddenURL(
            location, f"git cannot read {transport} URLs under the "
            f"{policy.name} policy")
    return transport


def source_environment(policy: AccessPolicy,
                       env: dict[str, str]) -> dict[str, str]:
    """`env` (from `tool_environment`) plus the variables that bind git
    to `policy`'s transports."""
    env = dict(env)
    allowed = allowed_transports(policy)
    # GIT_ALLOW_PROTOCOL's names: "file" covers local paths, "ssh" both
    # spellings of ssh.
    env["GIT_ALLOW_PROTOCOL"] = ":".join(allowed) or "none"
    env["GIT_PROTOCOL_FROM_USER"] = "0"
    env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    env.pop("GIT_DIR", None)
    return env


def write_credential_helper(directory: str, credentials) -> str:
    """A git credential helper answering with `credentials` (a
    `SourceCredentials`), written into `directory` (private: mode 0700);
    its path, for `source_command`'s `credential_helper`.

    The helper is a script that prints a file of mode 0600 in git's
    credential format; git calls it only when the server asks for
    authentication, and never shows what it answers.
    """
    answer = os.path.join(directory, "git-credentials")
    descriptor = os.open(answer, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(f"username={credentials.username}\n"
                     f"password={credentials.password}\n")
    helper = os.path.join(directory, "git-credential-helper")
    descriptor = os.open(helper, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o700)
    with os.fdopen(descriptor, "w") as stream:
        # Only "get" is answered; "store" and "erase" are ignored.
        stream.write(f'#!/bin/sh\ntest "$1" = get || exit 0\n'
                     f"exec cat {shlex.quote(answer)}\n")
    return helper


def source_command(git_dir: str, policy: AccessPolicy,
                   *arguments: str, credential_helper: str | None = None,
                   proxy: str | None = None) -> list[str]:
    """``git`` with the safety switches, working on `git_dir` (ours),
    followed by `arguments` (whose user-supplied part follows ``--``).

    :param credential_helper: from `write_credential_helper`, the only
        helper git may ask.
    :param proxy: the egress proxy (``host:port``) every http(s)
        connection goes through; redirects are followed only with one,
        and never with credentials.
    """
    command = ["git", f"--git-dir={git_dir}", "-c", "protocol.allow=never"]
    if proxy:
        command += ["-c", f"http.proxy=http://{proxy}"]
    follow = proxy is not None and credential_helper is None
    command += ["-c", f"http.followRedirects={str(follow).lower()}"]
    for name in allowed_transports(policy):
        command += ["-c", f"protocol.{name}.allow=always"]
    for setting in (
        "core.hooksPath=/dev/null",
        "core.fsmonitor=false",
        "credential.helper=",
        "fetch.fsckObjects=true",
        "transfer.fsckObjects=true",
        "fetch.recurseSubmodules=false",
        "submodule.recurse=false",
        "http.lowSpeedLimit=1",
        f"http.lowSpeedTime={STALL_SECONDS}",
        "gc.autoDetach=false",
        "advice.detachedHead=false",
    ):
        command += ["-c", setting]
    if credential_helper is not None:
        command += ["-c", f"credential.helper={credential_helper}"]
    return command + list(arguments)


def _failure(error: ToolFailed, location: str, reading: bool) -> Exception:
    """The `GitSourceError` for a failed git command on `location`."""
    tail = [line for line in error.tail.splitlines()
            if line.strip() and not line.startswith(("remote: Counting",
                                                     "remote: Compressing"))]
    said = "; ".join(tail[-3:]) or f"git exited with {error.returncode}"
    if isinstance(error, ToolTimedOut):
        return GitSourceUnreadable(
            f"Cannot read {location}: no answer in time ({error.tail}).")
    if re.search(r"returned error: 30[12378]", error.tail):
        return GitSourceUnreadable(
            f"Cannot read {location}: the server redirects elsewhere, and "
            "redirects are not followed; register the URL it redirects "
            "to.")
    if reading or _UNREADABLE.search(error.tail):
        return GitSourceUnreadable(f"Cannot read {location}: {said}")
    return GitSourceBroken(f"The repository at {location} is broken: {said}")


def list_remote(git_dir: str, location: str, policy: AccessPolicy,
                env: dict[str, str], credential_helper: str | None = None,
                ) -> tuple[str | None, dict[str, str]]:
    """The source's HEAD (the branch it points at, or None) and its
    branches and tags ``{ref: sha}``.

    :raises ForbiddenURL: when `policy` refuses `location`.
    :raises GitSourceUnreadable: when it cannot be listed.
    """
    check_location(location, policy)
    try:
        output = run_tool(
            source_command(git_dir, policy, "ls-remote", "--symref",
                           "--", location,
                           credential_helper=credential_helper,
                           proxy=env.get(EGRESS_VARIABLE)),
            env=source_environment(policy, env), timeout=LIST_TIMEOUT)
    except ToolFailed as error:
        raise _failure(error, location, reading=True) from None
    head = None
    refs = {}
    for line in output.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            head = line[len("ref: "):-len("\tHEAD")]
            continue
        sha, _, name = line.partition("\t")
        if (re.fullmatch(r"[0-9a-f]{40}(?:[0-9a-f]{24})?", sha)
                and name.startswith(("refs/heads/", "refs/tags/"))
                and not name.endswith("^{}")):
            refs[name] = sha
    return head, refs


def fetch(git_dir: str, location: str, refspecs: list[str],
          policy: AccessPolicy, env: dict[str, str],
          on_line: Callable[[str], None] | None = None,
          prune: bool = True, exact_objects: bool = False,
          credential_helper: str | None = None) -> None:
    """Fetch `refspecs` from `location` into `git_dir`.

    Tags are fetched only as the refspecs say (never followed into
    ``refs/tags``); with `prune`, refs the source no longer has are
    pruned from the refspecs' destinations.  The refspecs go to git on
    its standard input, so there may be any number of them.

    :param exact_objects: the refspecs name objects by id (``+SHA:ref``)
        rather than refs; only for a repository of our own on a local
        path (the import store), whose upload-pack we tell to serve any
        object it has.
    :raises ForbiddenURL: when `policy` refuses `location`.
    :raises GitSourceUnreadable: when it cannot be reached or read.
    :raises GitSourceBroken: when what it sends is damaged.
    """
    check_location(location, policy)
    arguments = ["fetch", "--no-tags", "--no-write-fetch-head",
                 "--no-recurse-submodules", "--progress", "--stdin"]
    if prune:
        arguments.append("--prune")
    command = source_command(git_dir, policy, *arguments, "--", location,
                             credential_helper=credential_helper,
                             proxy=env.get(EGRESS_VARIABLE))
    if exact_objects:
        command[1:1] = ["-c", "uploadpack.allowAnySHA1InWant=true"]
    with tempfile.TemporaryFile() as specs:
        specs.write("".join(f"{spec}\n" for spec in refspecs).encode(
            "utf-8", "surrogateescape"))
        specs.flush()
        specs.seek(0)
        try:
            run_tool(command, env=source_environment(policy, env),
                     on_line=on_line, stdin=specs.fileno())
        except ToolFailed as error:
            raise _failure(error, location, reading=False) from None
