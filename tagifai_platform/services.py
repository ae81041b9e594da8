"""Shared services on one machine: PostgreSQL, Redis, an MLflow tracking server, Celery workers.

Production mode runs the same code against servers instead of files under the home. This module
starts those servers from the system's own packages (Debian's ``postgresql`` and ``redis-server``,
the ``mlflow`` and ``dagster-celery`` commands of this environment) on loopback ports, each with its
files, log and process id under one folder, so that ``deploy/production.py`` can try the whole
deployment on a laptop and the tests can run the platform on real servers. Nothing here is used by
the platform itself: on several machines, each server is run by whoever operates it.

A server keeps running after the call that started it: :func:`stop` ends what a folder records.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
DEBIAN_PACKAGES = {"postgres": "postgresql", "redis": "redis-server", "chromium": "chromium"}


class ServiceError(RuntimeError):
    """A server that is not installed, did not start or did not answer; the message says which."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def postgres_binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def installed(service: str) -> bool:
    if service == "postgres":
        return postgres_binaries() is not None
    return shutil.which({"redis": "redis-server", "chromium": "chromium"}[service]) is not None


def install(service: str) -> bool:
    """Install ``service`` from Debian's package when it is missing and this process is root (as in
    CI); returns whether it is installed now."""
    if not installed(service) and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", DEBIAN_PACKAGES[service]],
            env=env,
            capture_output=True,
            timeout=900,
        )
    return installed(service)


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ServiceError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()[-2000:]}")


@dataclass(frozen=True)
class Postgres:
    """A PostgreSQL cluster in ``directory`` on ``port``, trusting loopback connections (no password)."""

    directory: Path
    port: int
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str, driver: str = "postgresql+psycopg2") -> str:
        """A SQLAlchemy URL; psycopg2 is named because SQLAlchemy 2 would otherwise pick psycopg 3."""
        return f"{driver}://{self.user}@{HOST}:{self.port}/{database}"

    def start(self) -> Postgres:
        """Create the cluster on first use, then start it; the folder must be reachable by the
        ``postgres`` user when running as root (it is handed over)."""
        binaries = postgres_binaries()
        if binaries is None:
            raise ServiceError("PostgreSQL is not installed: apt-get install postgresql")
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            _run(
                _as_server_user(
                    [str(binaries / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust"]
                )
            )
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={HOST}"
        log = self.directory / "server.log"
        _run(
            _as_server_user(
                [str(binaries / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "start", "-o", options]
            )
        )
        return self

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; returns its URL."""
        import psycopg2

        connection = psycopg2.connect(host=HOST, port=self.port, user=self.user, dbname="postgres")
        connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("select 1 from pg_database where datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'create database "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def stop(self) -> None:
        binaries = postgres_binaries()
        if binaries is not None and (self.data / "postmaster.pid").exists():
            _run(
                _as_server_user([str(binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
            )


def start_process(
    directory: Path, name: str, command: list[str], env: dict | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start ``command`` in its own session (so that :func:`stop_process` ends it and its children),
    its output in ``directory/name.log`` and its process id in ``directory/name.pid``."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (directory / f"{name}.pid").write_text(str(process.pid))
    return process


def stop_process(directory: Path, name: str, timeout: float = 30.0) -> bool:
    """End the process group recorded as ``name`` in ``directory``: SIGTERM, SIGKILL after ``timeout``.

    Returns whether SIGTERM was enough (or nothing was running).
    """
    pid_file = directory / f"{name}.pid"
    if not pid_file.exists():
        return True
    pid = int(pid_file.read_text())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            break
    pid_file.unlink()
    return sig == signal.SIGTERM


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        if finished:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(check, what: str, process: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    """Poll ``check()`` until it is true; fail naming ``what`` when the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not _answers(check):
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what} exited with status {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} was not ready after {timeout:.0f} s")
        time.sleep(0.3)


def _answers(check) -> bool:
    try:
        return bool(check())
    except OSError:
        return False


def redis_pings(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def start_redis(directory: Path, port: int) -> str:
    """Redis on ``port`` keeping nothing on disk (a broker's queue is rebuilt by the next run);
    returns its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError("Redis is not installed: apt-get install redis-server")
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    process = start_process(directory, "redis", command)
    wait_for(lambda: redis_pings(port), "redis-server", process)
    return f"redis://{HOST}:{port}/0"


def http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def start_mlflow_server(directory: Path, port: int, backend_store_uri: str) -> str:
    """An ``mlflow server`` over ``backend_store_uri`` that stores and serves the artifacts itself
    (clients upload through it, so they need no access to its disk); returns its URL."""
    artifacts = directory / "mlflow-artifacts"
    command = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        str(artifacts),
        "--serve-artifacts",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    process = start_process(
        directory, "mlflow", command, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    )
    url = f"http://{HOST}:{port}"
    wait_for(lambda: http_ok(f"{url}/health"), "mlflow server", process, timeout=180)
    return url


def start_dagster_dev(directory: Path, port: int, env: dict, project_root: Path) -> str:
    """``dagster dev`` (webserver and daemon) on ``port`` for the code location of ``project_root``;
    returns the UI's URL once it answers."""
    command = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", HOST, "-p", str(port)]
    process = start_process(directory, "dagster-dev", command, env=env, cwd=project_root)
    url = f"http://{HOST}:{port}"
    wait_for(lambda: http_ok(f"{url}/server_info"), "dagster dev", process, timeout=300)
    return url


def celery_worker_config(directory: Path, broker: str, backend: str) -> Path:
    """The worker's side of the Celery executor's configuration: the same broker and result backend."""
    path = directory / "celery.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"execution:\n  config:\n    broker: '{broker}'\n    backend: '{backend}'\n")
    return path


def start_celery_worker(directory: Path, name: str, env: dict, broker: str, backend: str) -> subprocess.Popen:
    """A Celery worker (``dagster-celery worker start``) taking one step at a time from the ``dagster``
    queue. ``env`` must be the platform's environment (``TAGIFAI_*``, ``DAGSTER_HOME``): a worker
    loads the code location and its resources from its own environment."""
    config = celery_worker_config(directory, broker, backend)
    command = [
        str(BIN / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config),
        "-n",
        name,
        "--",
        "--concurrency=1",
    ]
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}  # it runs `celery` from PATH
    process = start_process(directory, name, command, env=env)
    wait_for(lambda: _worker_ready(directory / f"{name}.log"), f"celery worker {name}", process, timeout=180)
    return process


def _worker_ready(log: Path) -> bool:
    return " ready." in log.read_text(errors="replace")


def stop(directory: Path, postgres: Postgres | None = None) -> None:
    """End every process recorded in ``directory``, newest first (the clients before the servers
    they use), then ``postgres``."""
    pid_files = sorted(directory.glob("*.pid"), key=lambda path: path.stat().st_mtime, reverse=True)
    for pid_file in pid_files:
        stop_process(directory, pid_file.stem)
    if postgres is not None:
        postgres.stop()
