"""A limit on failed sign-ins, so passwords cannot be guessed at speed.

`SignInThrottle` counts failed sign-ins in a sliding window, per client
address and per person name.  Once either count reaches its limit,
every sign-in from that address, or for that name, is refused (HTTP 429,
with ``Retry-After``) until the oldest failure leaves the window; it is
refused before the password is checked, so a refused attempt teaches
nothing.  A successful sign-in clears its name's count, not its
address's (or an attacker with an account of their own could reset it
between guesses).

The counts live in the memory of one process: each web process (and
each gunicorn or waitress worker process) counts for itself, and a
restart forgets.  Behind a proxy the address is the proxy's, so the
per-address limit then counts every client together; the per-name limit
still holds.  Anybody may lock a name out for one window by failing for
it on purpose: that is the price of the per-name limit, which no number
of addresses gets around.
"""

from __future__ import annotations

import collections
import threading
import time

__all__ = ["SignInThrottle"]


class _Counts:
    """Failure times per key, for at most `max_keys` keys."""

    def __init__(self, limit: int, max_keys: int):
        self.limit = limit
        self.max_keys = max_keys
        self._times: collections.OrderedDict[str, collections.deque] = (
            collections.OrderedDict())

    def _recent(self, key: str, since: float):
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= since:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times

    def wait(self, key: str, now: float, window: float) -> float:
        """Seconds until `key` may try again; 0 if it may now."""
        times = self._recent(key, now - window)
        if times is None or len(times) < self.limit:
            return 0.0
        return times[0] + window - now

    def add(self, key: str, now: float) -> None:
        times = self._times.pop(key, None)
        if times is None:
            times = collections.deque(maxlen=self.limit)
            if len(self._times) >= self.max_keys:
                # Memory stays bounded whatever is tried: forget the
                # key that failed longest ago.
                self._times.popitem(last=False)
        times.append(now)
        self._times[key] = times

    def clear(self, key: str) -> None:
        self._times.pop(key, None)


class SignInThrottle:
    """Counts failed sign-ins; see the module docstring.

    :param per_name: failures for one name within `window` that lock it.
    :param per_client: failures from one address within `window` that
        lock it.
    :param window: seconds a failure is remembered.
    :param max_keys: names (and addresses) remembered at most, each.
    """

    def __init__(self, per_name: int = 10, per_client: int = 20,
                 window: float = 900.0, max_keys: int = 10_000,
                 clock=time.monotonic):
        self.window = window
        self._clock = clock
        self._names = _Counts(per_name, max_keys)
        self._clients = _Counts(per_client, max_keys)
        self._lock = threading.Lock()

    def retry_after(self, client: str, name: str) -> float:
        """Seconds before a sign-in from `client` for `name` may be
        tried; 0 if it may be now."""
        now = self._clock()
        with self._lock:
            return max(self._clients.wait(client, now, self.window),
                       self._names.wait(name, now, self.window))

    def failed(self, client: str, name: str) -> None:
        now = self._clock()
        with self._lock:
            self._clients.add(client, now)
            self._names.add(name, now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._names.clear(name)
