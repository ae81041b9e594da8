"""Concurrency limits: on a laptop, runs queued behind the DuckDB warehouse; on the shared instance (with
the PostgreSQL warehouse), several runs at once but one training at a time (the `training` pool)."""

import shutil

import dagster as dg
import pytest
import yaml

from tagifai_platform.definitions import build_definitions
from tagifai_platform.mlops.training import TRAINING_POOL
from tagifai_platform.resources import build_executor
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.e2e.conftest import PROJECT_ROOT

INSTANCES = ("dagster.yaml", "deploy/dagster.postgres.yaml")


def test_tuning_and_training_share_the_training_pool(settings):
    defs = build_definitions(settings)
    for asset in ("best_hyperparameters", "challenger_model"):
        assert defs.get_assets_def(asset).op.pool == TRAINING_POOL


def test_runs_queue_on_a_laptop_and_the_shared_instance_gives_a_pool_one_slot(tmp_path):
    laptop, shared = (yaml.safe_load((PROJECT_ROOT / name).read_text()) for name in INSTANCES)
    assert shared["concurrency"]["runs"]["max_concurrent_runs"] > 1, "runs share the Postgres warehouse"
    assert shared["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert shared["run_monitoring"]["free_slots_after_run_end_seconds"] > 0, "a dead step's slot is freed"
    assert "pools" not in laptop["concurrency"], "no slot for a killed `dagster job execute` to leak"
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    concurrency = dg.DagsterInstance.from_config(str(tmp_path)).get_concurrency_config()
    assert concurrency.run_queue_config.max_concurrent_runs == 1


def test_the_celery_executor_is_chosen_by_the_settings(tmp_path):
    settings = load_settings({"TAGIFAI_HOME": str(tmp_path), "TAGIFAI_EXECUTOR": "celery"})
    assert build_executor(settings).name == "celery"
    with pytest.raises(ValueError, match="TAGIFAI_EXECUTOR='k8s' is not one of"):
        build_executor(load_settings({"TAGIFAI_HOME": str(tmp_path), "TAGIFAI_EXECUTOR": "k8s"}))
