"""Shared fixtures: the real Made With ML data, a throw-away home, and a loopback HTTP source.

The environment is set before any project module is imported so that no test can reach the
default (internet) source or write state outside its temporary home.
"""

import atexit
import fcntl
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest

DATASET_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "madewithml"

os.environ["TAGIFAI_SOURCE"] = str(DATASET_DIR)
os.environ["TAGIFAI_HOME"] = tempfile.mkdtemp(prefix="tagifai-test-home-")
atexit.register(shutil.rmtree, os.environ["TAGIFAI_HOME"], ignore_errors=True)
os.environ.pop("TAGIFAI_LANDING", None)
from tagifai_platform.settings import load_settings, quiet_libraries  # noqa: E402

quiet_libraries()


def dagster_instance(directory: Path):
    """A Dagster instance in ``directory`` that keeps its telemetry to itself."""
    import dagster as dg

    directory.mkdir(parents=True, exist_ok=True)
    return dg.instance_for_test(temp_dir=str(directory), overrides={"telemetry": {"enabled": False}})


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    assert (DATASET_DIR / "projects.csv").exists(), f"the shared data set is missing at {DATASET_DIR}"
    return DATASET_DIR


@pytest.fixture(scope="session")
def labeled(dataset_dir):
    """The real labeled projects, built by the platform's own reading and transform code."""
    from tagifai_platform.data.sources import read_projects, read_tags
    from tagifai_platform.data.transform import label_projects

    projects = read_projects(str(dataset_dir / "projects.csv"))
    return label_projects(projects, read_tags(str(dataset_dir / "tags.csv"), projects))


@pytest.fixture(scope="session")
def holdout(dataset_dir):
    """The frozen real holdout in the labeled layout: projects no model ever trains on."""
    from tagifai_platform.data.sources import read_holdout
    from tagifai_platform.data.transform import label_holdout

    return label_holdout(read_holdout(str(dataset_dir / "holdout.csv")))


@pytest.fixture
def settings(tmp_path, dataset_dir):
    """Settings for a fresh home under ``tmp_path``, reading the real data set."""
    return load_settings({"TAGIFAI_HOME": str(tmp_path / "home"), "TAGIFAI_SOURCE": str(dataset_dir)})


@pytest.fixture(autouse=True)
def no_mlflow_run_left_active():
    """End any MLflow run a test leaves active in this process, so the next test starts without one.

    MLflow keeps the active run in the process, and ``mlflow.start_run`` (``register_model``)
    refuses to start beside one. The platform's jobs end theirs, failed ones included
    (``continual/test_failed_actions.py`` asserts it); a test that fails half-way through MLflow
    calls of its own may not. Which test comes next depends on how the modules are shared out among
    the workers, so no test may depend on what an earlier one left.
    """
    yield
    mlflow = sys.modules.get("mlflow")  # never imported by the test: nothing to end
    while mlflow is not None and mlflow.active_run() is not None:
        mlflow.end_run()


def built_once(tmp_path_factory, worker_id: str, name: str, build) -> Path:
    """The folder ``build(folder)`` filled, built once for the whole run, whatever its workers.

    ``make test`` runs two pytest-xdist workers, each with its own session, so a session fixture
    would be built once per worker. The first worker to ask builds it in the run's shared temporary
    folder while holding a lock (pytest-xdist's documented recipe, with the standard library's
    ``fcntl`` for the lock); the others wait for it and find it built. Callers copy what they change.
    """
    if worker_id == "master":  # no workers: nobody to share with
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    folder = tmp_path_factory.getbasetemp().parent / name
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the worker dies
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker that died mid-build left
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


def run_end_to_end(root: Path, dataset_dir: Path) -> None:
    """`dagster job execute -j end_to_end` with two trials, as a user runs it, on ``root``/home."""
    from tagifai_platform_tests.e2e.conftest import run, user_env

    env = user_env(root / "home", dataset_dir, TAGIFAI_TUNING_TRIALS="2")
    result = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "end_to_end"],
        env,
        cwd=root,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in root.iterdir()) == ["home"], "nothing lands in the working directory"


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory, dataset_dir, worker_id):
    """A home on which `dagster job execute -j end_to_end` has run once, with a few trials.

    Shared by the session (the end-to-end tests, and the production tests that compare with it):
    tests read it, or copy it before they change anything. The run is made once for all workers;
    each worker gets its own copy, so that no worker reads a home another one is changing. A copied
    home works where it lands (its registry follows it: ``e2e/test_moved_home.py``).
    """
    from tagifai_platform_tests.e2e.conftest import user_env

    built = built_once(
        tmp_path_factory, worker_id, "e2e-built", functools.partial(run_end_to_end, dataset_dir=dataset_dir)
    )
    root = tmp_path_factory.mktemp("e2e")
    env = user_env(root / "home", dataset_dir, TAGIFAI_TUNING_TRIALS="2")
    shutil.copytree(built / "home", root / "home", dirs_exist_ok=True)
    return env, root


@pytest.fixture
def serve_directory():
    """Serve a directory over HTTP on 127.0.0.1; yields a function returning the base URL."""
    servers = []

    def serve(directory: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is the base class's
        pass


def copy_dataset(dataset_dir: Path, target: Path, names=("projects.csv", "tags.csv", "holdout.csv")) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(dataset_dir / name, target / name)
    return target


def leaky_source(dataset_dir: Path, target: Path, rows: int = 10):
    """A copy of the data set whose projects and tags also hold the first ``rows`` holdout projects."""
    import pandas as pd

    copy_dataset(dataset_dir, target)
    holdout = pd.read_csv(dataset_dir / "holdout.csv", dtype=str).head(rows)
    projects = pd.read_csv(dataset_dir / "projects.csv", dtype=str)
    tags = pd.read_csv(dataset_dir / "tags.csv", dtype=str)
    pd.concat([projects, holdout.drop(columns=["tag"])]).to_csv(target / "projects.csv", index=False)
    pd.concat([tags, holdout[["id", "tag"]]]).to_csv(target / "tags.csv", index=False)
    return target, holdout
