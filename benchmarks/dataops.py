"""The dataops job at growing sizes, a large bad batch, and its orchestration overhead on the real data.

    .venv/bin/python -m benchmarks.dataops                       # 10k, 100k and 1M synthetic projects
    .venv/bin/python -m benchmarks.dataops --sizes 10000 --duplicate-ids 0 --repeats 1

Prints JSON. Each size is a synthetic source (``tagifai_platform.data.synthetic``, recombined from the real
projects, beside the real holdout) run by ``dagster job execute -j dataops`` in a fresh subprocess on a fresh
home: wall time, the process's peak resident memory as the OS reports it (``wait4``), and rows per second.
``--duplicate-ids K`` also runs the largest size with K ids given twice, which must be refused. The overhead
is the job on the real data against the same functions called in one Python process (imports included):
the same reads, warehouse writes, suites run in DuckDB, audits and transform, without Dagster.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DATASET_DIR = PROJECT_ROOT.parent / "shared" / "datasets" / "madewithml"
SIZES = (10_000, 100_000, 1_000_000)

# The job's work without Dagster's job machinery, as a script for a fresh interpreter (imports counted);
# ``benchmarks.pipeline`` continues it with the model half.
DIRECT_DATAOPS = """
import time
start = time.perf_counter()
from tagifai_platform.settings import quiet_libraries
quiet_libraries()
from tagifai_platform.data import sources, suites, transform
from tagifai_platform.data.batches import content_fingerprint
from tagifai_platform.data.validation import ephemeral_context, validate_query
from tagifai_platform.warehouse import Warehouse
source, warehouse = {source!r}, Warehouse({warehouse!r})
context = ephemeral_context()

def stored_and_checked(asset, frame, suite, rows=lambda query: query, partition="source"):
    warehouse.write(asset, frame, version="direct", partition=partition, publish=False)
    staged = warehouse.staged_query(asset, partition)
    summary = validate_query(context, warehouse.reader, rows(staged.query), suite)
    assert summary.success, summary.describe()
    warehouse.audit(staged, checked_by=suite.name, passed=True, description=summary.describe())
    return staged.query

projects_at, tags_at = source + "/projects.csv", source + "/tags.csv"
projects_bytes, tags_bytes = sources.read_bytes(projects_at), sources.read_bytes(tags_at)
projects = sources.parse_projects(projects_bytes, projects_at)
tags = sources.parse_tags(tags_bytes, tags_at, projects)
content_fingerprint(projects_bytes, tags_bytes)
holdout = sources.read_holdout(source + "/holdout.csv")
projects_query = stored_and_checked(
    "raw_projects", projects, suites.raw_projects_suite(), suites.projects_for_validation
)
stored_and_checked(
    "raw_tags", tags, suites.raw_tags_suite(), lambda tags: suites.tags_for_validation(tags, projects_query)
)
stored_and_checked(
    "holdout_projects", holdout, suites.holdout_projects_suite(), suites.projects_for_validation, ""
)
labeled_rows = transform.labeled_table(projects, tags)
labeled_suite = suites.labeled_projects_suite(transform.label_holdout(holdout))
stored_and_checked("labeled_projects", labeled_rows, labeled_suite)
labeled = labeled_rows.to_pandas()
"""
DIRECT = DIRECT_DATAOPS + "print(len(labeled), time.perf_counter() - start)\n"


def user_env(home: Path, source: Path, **settings: str) -> dict:
    """The environment of a user with a fresh TAGIFAI_HOME, its instance set up as ``make`` does.

    The end-to-end tests start their commands the same way.
    """
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    return {
        **os.environ,
        "TAGIFAI_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "TAGIFAI_SOURCE": str(source),
        **settings,
    }


def fresh_env(home: Path, executor: str = "in_process", source: Path = DATASET_DIR) -> dict:
    return user_env(home, source, TAGIFAI_EXECUTOR=executor)


def measured(command: list[str], env: dict) -> dict:
    """Wall and CPU time and peak resident memory of one command's process, as the OS counted them."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(time.perf_counter() - start, 2),
        # CPU time beside wall time: on a shared machine, wall time measures the neighbours too.
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),  # Linux reports KiB
        "success": process.returncode == 0,
        "output": output,
    }


def dataops_job(env: dict) -> dict:
    job = [str(BIN / "dagster"), "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"]
    return measured(job, env)


def in_own_process(function, *args):
    """``function(*args)`` in a spawned process, for work that needs much memory before a measurement.

    A child started from this process begins with this process's peak resident memory as its own
    (Linux keeps the high-water mark through fork and exec), so a million projects synthesized here
    would show up as the peak memory of every command measured after them.
    """
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(function, *args).result()


def synthetic_source(directory: Path, rows: int, duplicate_ids: int = 0) -> Path:
    """A source directory: ``rows`` synthetic projects, ``duplicate_ids`` of them under an id used before."""
    return in_own_process(_write_source, directory, rows, duplicate_ids)


def _write_source(directory: Path, rows: int, duplicate_ids: int) -> Path:
    from tagifai_platform.data import sources
    from tagifai_platform.data.synthetic import synthesize, write_batch

    projects = sources.read_projects(str(DATASET_DIR / "projects.csv"))
    batch = synthesize(projects, sources.read_tags(str(DATASET_DIR / "tags.csv"), projects), rows, seed=rows)
    if duplicate_ids:
        repeated = batch.projects["id"].iloc[:duplicate_ids].to_numpy()
        batch.projects.loc[batch.projects.index[-duplicate_ids:], "id"] = repeated
        batch.tags.loc[batch.tags.index[-duplicate_ids:], "id"] = repeated
    write_batch(batch, directory)
    shutil.copy(DATASET_DIR / "holdout.csv", directory / "holdout.csv")
    return directory


def at_size(root: Path, rows: int, duplicate_ids: int = 0) -> dict:
    source = synthetic_source(root / f"source-{rows}-{duplicate_ids}", rows, duplicate_ids)
    figures = dataops_job(fresh_env(root / f"home-{rows}-{duplicate_ids}", source=source))
    output = figures.pop("output")
    figures["rows_per_s"] = round(rows / figures["wall_s"])
    if duplicate_ids:
        refused = "expect_column_values_to_be_unique" in output
        figures["refused_as_expected"] = not figures["success"] and refused
    elif not figures["success"]:
        figures["error_tail"] = output[-2000:]
    shutil.rmtree(source)
    return figures


def overhead(root: Path, repeats: int) -> dict:
    """Median wall and CPU seconds of the functions in one process, and of the job with each executor."""
    runs: dict[str, list[dict]] = {"direct": [], "job_in_process": [], "job_multiprocess": []}
    for attempt in range(repeats):
        home = root / f"direct-{attempt}"
        direct = DIRECT.format(source=str(DATASET_DIR), warehouse=str(home / "warehouse.duckdb"))
        runs["direct"].append(measured([sys.executable, "-c", direct], fresh_env(home)))
        for executor in ("in_process", "multiprocess"):
            runs[f"job_{executor}"].append(dataops_job(fresh_env(root / f"{executor}-{attempt}", executor)))
    medians = median_times(runs)
    return {
        **medians,
        "ratio_in_process_wall": round(medians["job_in_process_wall_s"] / medians["direct_wall_s"], 2),
        "ratio_in_process_cpu": round(medians["job_in_process_cpu_s"] / medians["direct_cpu_s"], 2),
    }


def median_times(runs: dict[str, list[dict]]) -> dict[str, float]:
    """``<name>_wall_s`` and ``<name>_cpu_s``: the median of each kind of run's measured figures."""
    return {
        f"{name}_{measure}": sorted(run[measure] for run in values)[len(values) // 2]
        for name, values in runs.items()
        for measure in ("wall_s", "cpu_s")
    }


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--duplicate-ids", type=int, default=3_000, help="0 skips the bad batch")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the overhead comparison; 0 skips it")
    arguments = parser.parse_args()
    report: dict = {"machine": machine(), "dataops": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rows in arguments.sizes:
            report["dataops"][str(rows)] = at_size(root, rows)
        if arguments.duplicate_ids:
            rows = max(arguments.sizes)
            report[f"bad_batch_{rows}_rows_{arguments.duplicate_ids}_duplicate_ids"] = at_size(
                root, rows, arguments.duplicate_ids
            )
        if arguments.repeats:
            report["overhead_real_data"] = overhead(root, arguments.repeats)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
