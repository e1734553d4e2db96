"""Fixtures for the worker tests (the doubles are in `worker_fakes`)."""

from __future__ import annotations

import socket

import pytest
from worker_fakes import SchedulerServer
from worker_fakes import SourceRepo


@pytest.fixture
def scheduler():
    server = SchedulerServer().start()
    yield server
    server.stop()


@pytest.fixture
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def source_repo(tmp_path):
    repo = SourceRepo(tmp_path / "source")
    repo.commit("first")
    return repo


@pytest.fixture
def silent_url():
    """An http URL whose server accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/silent.git"
