"""Production mode on one machine: every shared service on loopback, under one folder.

``python -m tagifai_platform.production start [FOLDER]`` (``make production-up``) starts PostgreSQL
(the Dagster instance, MLflow's backend, Optuna's studies, the warehouse), Redis (the Celery
broker), an MLflow tracking server that also serves the artifacts, a Celery worker, the Dagster
webserver and the daemon, and writes ``FOLDER/env``: the settings that point the platform at them.
``stop [FOLDER]`` (``make production-down``) ends them all. Each piece is what would run on its own
machine in a real deployment (README, "Running in production"); only the addresses would change.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
from pathlib import Path

from tagifai_platform import services
from tagifai_platform.settings import PROJECT_ROOT

DEFAULT_FOLDER = PROJECT_ROOT / ".production"
DATABASES = ("dagster", "mlflow", "optuna", "warehouse", "feast")


def _postgres(folder: Path) -> services.Postgres:
    port_file = folder / "postgres.port"
    port = int(port_file.read_text()) if port_file.exists() else services.free_port()
    port_file.parent.mkdir(parents=True, exist_ok=True)
    port_file.write_text(str(port))
    return services.Postgres(folder / "postgres", port)


def start(folder: Path) -> dict[str, str]:
    """Start every service under ``folder``; returns the platform's environment (also in ``folder/env``)."""
    folder = folder.resolve()
    postgres = _postgres(folder).start()
    urls = {name: postgres.create_database(name) for name in DATABASES}
    broker = services.start_redis(folder, services.free_port())
    mlflow = services.start_mlflow_server(folder, services.free_port(), urls["mlflow"])
    home = folder / "home"
    settings = {
        "TAGIFAI_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "TAGIFAI_EXECUTOR": "celery",
        "TAGIFAI_CELERY_BROKER": broker,
        "TAGIFAI_MLFLOW_TRACKING_URI": mlflow,
        "TAGIFAI_OPTUNA_STORAGE": urls["optuna"],
        "TAGIFAI_WAREHOUSE": urls["warehouse"],
        "TAGIFAI_FEAST_REGISTRY": urls["feast"],
        # The broker's server, another database: Celery's queue and the features stay apart.
        "TAGIFAI_FEAST_ONLINE_STORE": broker.rsplit("/", 1)[0] + "/1",
        "DAGSTER_PG_HOST": services.HOST,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": "dagster",
    }
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster" / "dagster.yaml")
    (folder / "env").write_text(
        "".join(f"export {key}={shlex.quote(value)}\n" for key, value in settings.items())
    )
    env = {**os.environ, **settings}
    services.start_celery_worker(folder, "worker", env, broker, broker)
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    webserver_port = services.free_port()
    webserver = [str(services.BIN / "dagster-webserver"), "-w", workspace, "-h", services.HOST]
    process = services.start_process(
        folder, "webserver", [*webserver, "-p", str(webserver_port)], env, PROJECT_ROOT
    )
    services.start_process(
        folder, "daemon", [str(services.BIN / "dagster-daemon"), "run", "-w", workspace], env, PROJECT_ROOT
    )
    ui = f"http://{services.HOST}:{webserver_port}"
    services.wait_for(
        lambda: services.http_ok(f"{ui}/server_info"), "dagster-webserver", process, timeout=300
    )
    return {**settings, "DAGSTER_UI": ui}


def stop(folder: Path) -> None:
    """End every process started under ``folder``, then PostgreSQL; the data stays for the next start."""
    folder = folder.resolve()
    if folder.exists():
        services.stop(folder, _postgres(folder))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tagifai_platform.production", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(args.folder)
        print(f"Stopped everything under {args.folder}")
        return
    try:
        settings = start(args.folder)
    except BaseException:
        stop(args.folder)  # a half-started deployment is not left running
        raise
    print(f"Dagster UI: {settings['DAGSTER_UI']}   MLflow: {settings['TAGIFAI_MLFLOW_TRACKING_URI']}")
    print(f"Point the platform at it:  source {args.folder.resolve() / 'env'}")
    print("Then, e.g.:  .venv/bin/dagster job execute -m tagifai_platform.definitions -j end_to_end")
    print(f"Stop:  make production-down  (or python -m tagifai_platform.production stop {args.folder})")


if __name__ == "__main__":
    main()
