"""The daemon as `dagster dev` runs it: a batch dropped into the landing directory gets ingested,
and the features and training set refresh on their own."""

import time

import dagster as dg
import pandas as pd

from tagifai_platform_tests.e2e.conftest import run, running_daemon

DEADLINE_SECONDS = 360


def test_the_daemon_ingests_a_dropped_batch_once(home_env, tmp_path, dataset_dir):
    first = run(
        ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"],
        home_env,
        cwd=tmp_path,
    )
    assert first.returncode == 0, "batches are checked against the holdout the source run stored"
    landing = tmp_path / "home" / "landing"
    landing.mkdir(parents=True)
    projects = pd.read_csv(dataset_dir / "projects.csv", dtype=str).head(15)
    projects["id"] = (projects["id"].astype(int) + 200_000).astype(str)
    tags = pd.read_csv(dataset_dir / "tags.csv", dtype=str).head(15).assign(id=projects["id"])
    projects.to_csv(landing / "projects_week1.csv", index=False)
    tags.to_csv(landing / "tags_week1.csv", index=False)

    daemon_log = tmp_path / "daemon.log"
    with (
        running_daemon(home_env, tmp_path) as daemon,
        dg.DagsterInstance.from_config(home_env["DAGSTER_HOME"]) as instance,
    ):
        deadline = time.monotonic() + DEADLINE_SECONDS
        runs = []
        while time.monotonic() < deadline:
            runs = instance.get_runs(dg.RunsFilter(job_name="ingest_batch"))
            if runs and runs[0].is_finished:
                break
            assert daemon.poll() is None, daemon_log.read_text()[-3000:]
            time.sleep(2)
        assert runs, f"no ingest_batch run within {DEADLINE_SECONDS} s:\n{daemon_log.read_text()[-3000:]}"
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert runs[0].tags["dagster/partition"] == "week1"
        assert instance.get_dynamic_partitions("batches") == ["source", "week1"]
        assert len(runs) == 1, "one batch, one run"

        # The batch passed its checks: declarative automation refreshes the training data, in a run
        # that must also finish (its blocking check runs after the materialization).
        refresh = None
        while time.monotonic() < deadline:
            training = instance.get_latest_materialization_event(dg.AssetKey("training_dataset"))
            refresh = training and instance.get_run_by_id(training.run_id)
            if refresh and refresh.is_finished:
                break
            time.sleep(2)
        assert refresh and refresh.is_finished, f"no automated refresh:\n{daemon_log.read_text()[-3000:]}"
        assert refresh.status == dg.DagsterRunStatus.SUCCESS
        features = instance.get_latest_materialization_event(dg.AssetKey("project_features"))
        assert features.run_id == refresh.run_id
        check = instance.get_latest_asset_check_evaluation_record(
            dg.AssetCheckKey(dg.AssetKey("training_dataset"), "training_dataset_suite")
        )
        assert check.run_id == refresh.run_id and check.evaluation.passed
