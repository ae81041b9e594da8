"""A throw-away PostgreSQL server for the tests that run the platform on shared infrastructure.

It runs from Debian's ``postgresql`` package (``.ci/run`` installs it), as the ``postgres`` user
when the tests run as root (``initdb`` refuses root), with trust authentication on 127.0.0.1 only.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def server_binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _as_server_user(list(command)), check=True, capture_output=True, text=True, timeout=120
    )


@contextmanager
def postgres_server():
    """Start a cluster in a fresh folder the server user can reach; yields (host, port, user, database).

    pytest's own temporary folders are private to the user running the tests, so the cluster
    lives in a folder of its own, removed afterwards.
    """
    binaries = server_binaries()
    directory = Path(tempfile.mkdtemp(prefix="tagifai-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", _free_port()
    try:
        _run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        _run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(directory / "server.log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1",
        )
        try:
            _run(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dagster")
            yield "127.0.0.1", port, "postgres", "dagster"
        finally:
            _run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
