"""Resources and executor chosen from the settings: the only place that turns settings into I/O."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb_pandas import DuckDBPandasIOManager

from tagifai_platform.dataops.resources import ExpectationsValidator, ProjectSource
from tagifai_platform.settings import Settings

EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def build_resources(settings: Settings) -> dict:
    settings.home.mkdir(parents=True, exist_ok=True)
    return {
        "io_manager": DuckDBPandasIOManager(database=str(settings.warehouse_path), schema="tagifai"),
        "source": ProjectSource(location=settings.source, landing=str(settings.landing)),
        "validator": ExpectationsValidator(),
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    try:
        return EXECUTORS[settings.executor]
    except KeyError:
        raise ValueError(
            f"TAGIFAI_EXECUTOR={settings.executor!r} is not one of {sorted(EXECUTORS)}."
        ) from None
