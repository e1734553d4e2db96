"""Settings passed into the library by `configure` (never read globally)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from codeimport.addresses import parse_networks
from codeimport.enums import RevisionControlSystems
from codeimport.errors import ConfigurationError

__all__ = ["Settings"]

_RCS = RevisionControlSystems


@dataclasses.dataclass(frozen=True)
class Settings:
    """Tunable numbers, with the original's defaults (BEHAVIOUR.md §3).

    Durations are in seconds.
    """

    #: A RUNNING job whose heartbeat is older than this is reclaimable.
    maximum_heartbeat_interval: int = 300
    #: After this many non-successful results in a row, stop: FAILING.
    consecutive_failure_limit: int = 5
    #: The watchdog takes a machine OFFLINE after this long without a poll.
    machine_heartbeat_limit: int = 900
    #: The scheduler service notes every third of this that it reaches
    #: the database; a longer gap is an outage, after which jobs and
    #: machines get their whole limits again (`codeimport.model.rules`).
    #: Keep it well below ``maximum_heartbeat_interval``.
    service_outage_after: int = 60
    default_interval_cvs: int = 43200
    default_interval_subversion: int = 21600
    default_interval_git: int = 21600
    default_interval_bzr: int = 21600
    #: Host names workers must refuse to import from, in order.
    blacklisted_hostnames: tuple = ()
    #: Our own host name; same-VCS imports from it are refused.
    mainsite_hostname: str = "code.example.test"
    #: Internal networks (CIDR blocks) sources may be on, for private
    #: deployments, demos and tests; by default only public addresses
    #: (`codeimport.addresses`).  Registration and the import machines
    #: (``dispatch --settings-file``) both honour it.
    allowed_source_networks: tuple = ()
    #: URL schemes an import source may use ("file" only for demos).
    allowed_url_schemes: tuple = ("http", "https", "svn", "git", "bzr", "ftp")
    #: The most revisions one run of an import converts, per source kind
    #: (None: no limit).  A run that stops at its limit reports
    #: SUCCESS_PARTIAL and the next chunk is due at once.  Subversion's
    #: 500 is the original's ``svn_revisions_import_limit``; Git imports
    #: fetch whole histories, so they have no limit.
    revision_limit_subversion: int | None = 500
    revision_limit_mercurial: int | None = None
    revision_limit_bzr: int | None = None
    revision_limit_cvs: int | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ConfigurationError(
                        f"{field.name} must be an integer, not {value!r}."
                    )
                if value <= 0:
                    raise ConfigurationError(
                        f"{field.name} must be positive, not {value!r}."
                    )
            elif field.type == "int | None" and value is not None:
                if (not isinstance(value, int) or isinstance(value, bool)
                        or value <= 0):
                    raise ConfigurationError(
                        f"{field.name} must be a positive integer or "
                        f"none, not {value!r}."
                    )
        if isinstance(self.allowed_url_schemes, str):
            object.__setattr__(self, "allowed_url_schemes", tuple(
                s.strip() for s in self.allowed_url_schemes.split(",")
                if s.strip()))
        try:
            networks = parse_networks(self.allowed_source_networks)
        except ValueError as error:
            raise ConfigurationError(
                f"allowed_source_networks: {error}.") from None
        object.__setattr__(self, "allowed_source_networks",
                           tuple(str(network) for network in networks))
        if isinstance(self.blacklisted_hostnames, str):
            hosts = tuple(
                h.strip() for h in self.blacklisted_hostnames.split(",")
                if h.strip()
            )
            object.__setattr__(self, "blacklisted_hostnames", hosts)
        else:
            object.__setattr__(
                self, "blacklisted_hostnames",
                tuple(self.blacklisted_hostnames),
            )

    @classmethod
    def fromMapping(cls, mapping) -> Settings:
        """Build settings from strings (a config file or the environment).

        :raises ConfigurationError: for unknown names or bad values.
        """
        known = {field.name: field for field in dataclasses.fields(cls)}
        values = {}
        for name, raw in mapping.items():
            if name not in known:
                raise ConfigurationError(f"Unknown setting {name!r}.")
            if known[name].type == "int | None" and str(
                    raw).strip().lower() in ("", "none"):
                values[name] = None
            elif known[name].type in ("int", "int | None"):
                try:
                    values[name] = int(raw)
                except (TypeError, ValueError):
                    raise ConfigurationError(
                        f"{name} must be an integer, not {raw!r}."
                    ) from None
            else:
                values[name] = raw
        return cls(**values)

    #: Which setting holds each source kind's default update interval
    #: (the job queue's SQL is built from this table too).
    INTERVAL_SETTINGS = {
        _RCS.CVS: "default_interval_cvs",
        _RCS.BZR_SVN: "default_interval_subversion",
        _RCS.GIT: "default_interval_git",
        _RCS.BZR: "default_interval_bzr",
    }
    #: For a source kind without a setting of its own.
    OTHER_INTERVAL = 21600

    def defaultInterval(self, rcs_type) -> timedelta:
        """Return the default update interval for a source type."""
        name = self.INTERVAL_SETTINGS.get(rcs_type)
        seconds = self.OTHER_INTERVAL if name is None else getattr(self, name)
        return timedelta(seconds=seconds)

    def revisionLimit(self, rcs_type) -> int | None:
        """The most revisions one run of a `rcs_type` import converts, or
        None for no limit (Git)."""
        return {
            _RCS.BZR_SVN: self.revision_limit_subversion,
            _RCS.HG: self.revision_limit_mercurial,
            _RCS.BZR: self.revision_limit_bzr,
            _RCS.CVS: self.revision_limit_cvs,
        }.get(rcs_type)
