"""Access policies and the retry helpers the worker side uses."""

from __future__ import annotations

import pytest

from codeimport.access import ForbiddenURL
from codeimport.access import make_policy
from codeimport.access import split_location
from codeimport.worker.retry import Backoff
from codeimport.worker.retry import call_with_retry


@pytest.mark.parametrize(
    "location,expected",
    [
        ("http://Example.COM/x", ("http", "example.com")),
        ("git://example.com:9418/x", ("git", "example.com")),
        ("/srv/repo", ("file", None)),
        ("./repo", ("file", None)),
        ("repo", ("file", None)),
        ("file:///srv/repo", ("file", None)),
        ("git@example.com:x.git", ("ssh", "example.com")),
        ("example.com:x.git", ("ssh", "example.com")),
    ],
)
def test_split_location(location, expected):
    assert split_location(location) == expected


@pytest.mark.parametrize(
    "location", ["", "http://", "http://a b/", "http://h:port/", "1x://h/"]
)
def test_split_location_bad_input_raises(location):
    with pytest.raises(ValueError):
        split_location(location)


@pytest.mark.parametrize(
    "url", ["http://example.com/x", "https://example.com/x",
            "git://example.com/x", "svn://example.com/x",
            "ftp://example.com/x", "bzr://example.com/x"],
)
def test_default_policy_allows_network_schemes(url):
    make_policy("default").check(url)


@pytest.mark.parametrize(
    "url", ["ssh://example.com/x", "file:///etc", "/etc", "sftp://h/x",
            "git@example.com:x"],
)
def test_default_policy_refuses_other_schemes_and_local(url):
    with pytest.raises(ForbiddenURL):
        make_policy("default").check(url)


def test_excluded_hosts_and_subdomains_are_refused():
    policy = make_policy("default", ["launchpad.test", "LocalHost"])
    for url in ["http://launchpad.test/x", "http://code.launchpad.test/x",
                "http://LAUNCHPAD.TEST./x", "http://localhost:8080/x"]:
        with pytest.raises(ForbiddenURL, match="excluded"):
            policy.check(url)
    policy.check("http://notlaunchpad.test/x")


def test_anything_policy_allows_local_but_not_excluded():
    policy = make_policy("anything", ["example.com"])
    policy.check("/srv/repo")
    policy.check("file:///srv/repo")
    policy.check("ssh://other.org/x")
    with pytest.raises(ForbiddenURL):
        policy.check("git@example.com:x.git")


def test_unknown_policy_name_raises():
    with pytest.raises(ValueError):
        make_policy("everything")


def test_backoff_doubles_to_cap_and_resets():
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_call_with_retry_retries_oserror_only():
    attempts, waits = [], []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionResetError()
        return "ok"

    result = call_with_retry(flaky, give_up_after=100, first_delay=1,
                             wait=lambda d: waits.append(d) or False)
    assert result == "ok"
    assert waits == [1, 2]

    def broken():
        raise KeyError("x")

    with pytest.raises(KeyError):
        call_with_retry(broken, give_up_after=100, wait=lambda d: False)


def test_call_with_retry_gives_up_at_deadline_or_when_told():
    now = [0.0]

    def wait(delay):
        now[0] += delay
        return False

    def down():
        raise ConnectionRefusedError()

    with pytest.raises(ConnectionRefusedError):
        call_with_retry(down, give_up_after=10, first_delay=1, wait=wait,
                        clock=lambda: now[0])
    assert now[0] == 10
    with pytest.raises(ConnectionRefusedError):
        call_with_retry(down, give_up_after=10, wait=lambda d: True)
