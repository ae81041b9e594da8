"""`dagster job execute` as a user runs it, on a temporary home."""

import socket

import duckdb

from tagifai_platform_tests.e2e.conftest import run


def test_dagster_job_execute_runs_dataops(home_env, tmp_path):
    result = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"],
        home_env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        assert connection.execute("select count(*) from tagifai.labeled_projects").fetchone() == (764,)
    assert not any(path.name not in {"home"} for path in tmp_path.iterdir()), "nothing lands in the cwd"


def test_an_unreachable_source_fails_the_extract_step_with_a_hint(home_env, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**home_env, "TAGIFAI_SOURCE": f"http://127.0.0.1:{port}/datasets"}
    result = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"],
        env,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"http://127.0.0.1:{port}/datasets/projects.csv" in output and "Set TAGIFAI_SOURCE" in output


def test_data_that_failed_its_checks_is_not_trained_on_by_the_next_command(home_env, tmp_path, dataset_dir):
    """The headline defect, as a user meets it: a failed `dataops`, then `dagster asset materialize`."""
    from tagifai_platform.warehouse import Warehouse
    from tagifai_platform_tests.conftest import leaky_source

    dataops = ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"]
    assert run(dataops, home_env, cwd=tmp_path).returncode == 0

    leaky, holdout = leaky_source(dataset_dir, tmp_path / "leaky")
    failed = run(dataops, {**home_env, "TAGIFAI_SOURCE": str(leaky)}, cwd=tmp_path)
    assert failed.returncode != 0 and "labeled_projects_suite" in failed.stdout + failed.stderr

    materialize = [
        "dagster", "asset", "materialize", "-m", "tagifai_platform.definitions",
        "--select", "project_features,training_dataset",
    ]  # fmt: skip
    result = run(materialize, home_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    training = Warehouse(tmp_path / "home" / "warehouse.duckdb").published("training_dataset")
    assert len(training) == 764 and not training["id"].isin(holdout["id"].astype(int)).any()


def test_the_policy_engine_runs_on_its_own_right_after_make_run(trained_home):
    """`make run` then `dagster job execute -j policy_engine`: it monitors itself and continues."""
    import json

    env, root = trained_home
    engine = ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "policy_engine"]
    result = run(engine, env, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Policy engine chose continue" in result.stdout + result.stderr
    decisions = (root / "home" / "policy" / "decisions.jsonl").read_text().splitlines()
    decision = json.loads(decisions[-1])
    assert decision["action"] == "continue" and "predictions in the window" in decision["reasons"][0]
