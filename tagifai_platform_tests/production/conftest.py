"""Real servers for the production-mode tests, started by :mod:`tagifai_platform.services`.

A server missing from the machine is installed from Debian's package (as root, as in CI). If that
fails, the test fails in CI (``CI`` set) rather than being skipped silently, and is skipped on a
developer's machine that cannot install it.
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tagifai_platform import services


def require(service: str) -> None:
    if services.install(service):
        return
    message = f"{service} is not installed and could not be installed from Debian's packages"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def postgres_server():
    """A PostgreSQL server in a folder of its own: pytest's temporary folders are private to the user
    running the tests, and the server runs as ``postgres`` when the tests run as root."""
    require("postgres")
    directory = Path(tempfile.mkdtemp(prefix="tagifai-postgres-"))
    server = services.Postgres(directory, services.free_port())
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the session; each test creates its own databases."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of the test's own, which it may stop and start again."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def servers(tmp_path):
    """The folder every process a test starts is recorded in; all of them are ended afterwards."""
    directory = tmp_path / "servers"
    directory.mkdir()
    yield directory
    services.stop(directory)


@pytest.fixture
def redis(servers):
    """A Redis server of the test's own (a test may stop it); yields its URL."""
    require("redis")
    return services.start_redis(servers, services.free_port())
