"""The limit on failed sign-ins (`codeimport.web.throttle`), through the
web interface and on its own, with a clock the test moves."""

from __future__ import annotations

import pytest
from webhelpers import PASSWORDS

from codeimport.web.throttle import SignInThrottle


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def limited(app, clock):
    """`app` with a throttle of 3 failures per name, 5 per address, in a
    60 s window."""
    registry = app.app._wsgi.registry
    registry.codeimport_sign_in_throttle = SignInThrottle(
        per_name=3, per_client=5, window=60, clock=clock)
    return app


def attempt(app, name, password, status, address="192.0.2.1"):
    form = app.get("/login", extra_environ={"REMOTE_ADDR": address}).forms[
        "login-form"]
    form["name"] = name
    form["password"] = password
    return form.submit(status=status,
                       extra_environ={"REMOTE_ADDR": address})


def test_a_name_is_locked_after_its_failures_even_with_the_password(
        world, limited, clock):
    for _ in range(3):
        attempt(limited, "alice", "guess", 403)
    refused = attempt(limited, "alice", PASSWORDS["alice"], 429)
    assert "Too many failed sign-ins; try again in 1 minute." in refused.text
    assert refused.headers["Retry-After"] == "61"
    assert limited.get("/").html.select_one("#signed-in-as") is None
    # Another name from the same address is not locked by it.
    attempt(limited, "victor", PASSWORDS["victor"], 303)
    # When the oldest failure leaves the window, the name may try again.
    clock.now += 61
    attempt(limited, "alice", PASSWORDS["alice"], 303)


def test_an_address_is_locked_after_failures_for_any_names(
        world, limited, clock):
    for number in range(5):
        attempt(limited, f"nobody-{number}", "guess", 403)
    attempt(limited, "ada", PASSWORDS["ada"], 429)
    # Another address is not.
    attempt(limited, "ada", PASSWORDS["ada"], 303, address="192.0.2.2")


def test_a_success_clears_the_names_failures(world, limited, clock):
    for _ in range(2):
        attempt(limited, "alice", "guess", 403)
    attempt(limited, "alice", PASSWORDS["alice"], 303)
    for _ in range(2):
        attempt(limited, "alice", "guess", 403)
    attempt(limited, "alice", PASSWORDS["alice"], 303)


def test_failures_are_forgotten_after_the_window():
    clock = Clock()
    throttle = SignInThrottle(per_name=2, per_client=100, window=10,
                              clock=clock)
    throttle.failed("a", "n")
    clock.now += 5
    throttle.failed("a", "n")
    assert throttle.retry_after("a", "n") == 5
    clock.now += 5
    assert throttle.retry_after("a", "n") == 0
    throttle.failed("a", "n")
    assert throttle.retry_after("a", "n") == 5


def test_memory_stays_bounded_whatever_names_are_tried():
    clock = Clock()
    throttle = SignInThrottle(per_name=1, per_client=10**9, window=60,
                              max_keys=100, clock=clock)
    for number in range(1000):
        throttle.failed("a", f"name-{number}")
    assert len(throttle._names._times) == 100
    # The newest are remembered, the oldest forgotten.
    assert throttle.retry_after("b", "name-999") > 0
    assert throttle.retry_after("b", "name-0") == 0
