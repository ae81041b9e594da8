"""Dagster fixtures: a temporary instance and the definitions built for a temporary home."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tagifai_platform.definitions import build_definitions
from tagifai_platform_tests.conftest import dagster_instance


@pytest.fixture
def instance(tmp_path):
    with dagster_instance(tmp_path / "dagster") as instance:
        yield instance


@pytest.fixture
def defs(settings):
    return build_definitions(settings)


def run_job(defs, instance, job: str, partition: str | None = None) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )


def warehouse_table(settings, table: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
        return connection.execute(f"select * from tagifai.{table}").df()


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
