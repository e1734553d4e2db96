"""Starting and stopping the demo's daemons as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

__all__ = ["Daemon", "free_port", "wait_for_http"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float) -> bool:
    """Poll `url` until it answers 200, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.1)
    return False


class Daemon:
    """One `codeimport` sub-command running in the background."""

    def __init__(self, label: str, arguments: list, log_dir: str, env=None):
        self.label = label
        self.log_path = os.path.join(log_dir, f"{label}.log")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codeimport.cli", *arguments],
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, then SIGKILL the whole process group."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            # Children (monitors, workers) must not outlive the demo.
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self._log.close()
        return self.process.returncode

    def tail(self, lines: int = 5) -> str:
        with open(self.log_path, errors="replace") as stream:
            return "".join(stream.readlines()[-lines:])
