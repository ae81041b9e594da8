"""The whole pipeline (`make run`'s `end_to_end` job) on a fresh home: on the real data, or at growing sizes.

    .venv/bin/python -m benchmarks.pipeline                        # the real data (`make benchmark`)
    .venv/bin/python -m benchmarks.pipeline --sizes 10000 100000   # synthetic sources of these sizes
    .venv/bin/python -m benchmarks.pipeline --overhead 3           # the job vs its functions in one process

Prints JSON. On the real data: the wall time of ``dagster job execute -j end_to_end`` (default settings: 12
Optuna trials, in-process executor) and the champion's holdout scores. At a size: a synthetic source (as in
``benchmarks.dataops``) through the same job, with its wall and CPU time, the peak resident memory of the
job's process as the OS counted it, the seconds of every step as Dagster logged them, rows per second of each
heavy stage (features published and materialized, the point-in-time training set, tuning, training,
evaluation) and the champion's holdout scores. ``--trials`` sets ``TAGIFAI_TUNING_TRIALS`` for the sized runs.
``--overhead N`` compares, N times on the real data, the job with the same core functions and resource
objects called in one Python process (``DIRECT_MLOPS`` after the DataOps part of ``benchmarks.dataops``),
imports included.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.dataops import (
    BIN,
    DATASET_DIR,
    DIRECT_DATAOPS,
    fresh_env,
    machine,
    measured,
    median_times,
    synthetic_source,
)

JOB = [str(BIN / "dagster"), "job", "execute", "-m", "tagifai_platform.definitions", "-j", "end_to_end"]
# The stages whose cost grows with the data, by the step that does the work.
STAGES = {
    "features_publish_materialize": "project_features",
    "point_in_time_training_set": "training_dataset",
    "tuning": "best_hyperparameters",
    "training": "challenger_model",
    "evaluation": "evaluate_challenger",
}
# The model half of end_to_end with the same core functions and resource objects, no job around them.
DIRECT_MLOPS = """
import mlflow
from tagifai_platform.data.validation import validate_frame
from tagifai_platform.features import publish_features
from tagifai_platform.mlops import steps
from tagifai_platform.mlops.features import point_in_time
from tagifai_platform.monitoring.retraining import RECENT_EVAL
from tagifai_platform.registry import EXPERIMENT_NAME
from tagifai_platform.resources import build_resources
from tagifai_platform.settings import load_settings

settings = load_settings()
resources = build_resources(settings)
registry = resources["model_registry"].registry
registry.ensure_experiment(EXPERIMENT_NAME)
mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
mlflow.set_experiment(EXPERIMENT_NAME)
mlflow.mlflow_run_id = mlflow.start_run().info.run_id
union = transform.union_batches(labeled.assign(batch="source"), ["source"])
store = resources["features"].store
publish_features(store, union.drop(columns=["batch"]))
dataset, _ = point_in_time(union, store)
warehouse.write("training_dataset", dataset, version="direct", publish=False)
staged = warehouse.staged("training_dataset")
training_suite = suites.training_dataset_suite(transform.label_holdout(holdout), len(union))
summary = validate_frame(context, staged.frame, training_suite)
assert summary.success, summary.describe()
warehouse.audit(staged, checked_by="training_dataset_suite", passed=True, description=summary.describe())
tuned = steps.tune(resources["studies"].study("tagifai"), dataset, settings.tuning_trials, mlflow)
lineage = {"dagster_run_id": "direct", "training_dataset_version": "direct"}
record = steps.train_and_register(dataset, tuned["params"], registry, mlflow, lineage)
recent = dataset[dataset["split"] == RECENT_EVAL].drop(columns=["split"])
evaluation = steps.evaluate_against_champion(
    record, holdout, registry, resources["policy"], mlflow, resources["reports"].write, recent=recent
)
assert evaluation.promote, evaluation.record["decision"]
steps.promote(evaluation.record, registry, "direct", [])
print(evaluation.record["scores"]["holdout"]["overall"]["f1"], time.perf_counter() - start)
"""
_STEP = re.compile(r' - (\S+) - STEP_SUCCESS - Finished execution of step "\S+" in ([\dhms.]+)\.')
_PART = re.compile(r"([\d.]+)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def step_seconds(output: str) -> dict[str, float]:
    """Each step's duration as the job logged it (``571ms``, ``27.21s``, ``6m12s``, ``1h6m``)."""
    return {
        step: round(sum(float(value) * _UNIT_SECONDS[unit] for value, unit in _PART.findall(took)), 2)
        for step, took in _STEP.findall(output)
    }


def champion(home: Path, env: dict) -> dict:
    """The champion's version and holdout scores, and the evaluation record of the run."""
    status = json.loads(
        subprocess.run(
            [str(BIN / "tagifai"), "status"], env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    evaluation = json.loads((home / "records" / "model_evaluation.json").read_text())
    return {
        "champion_version": status["champion"]["version"],
        "holdout": {
            key: round(value, 4)
            for key, value in status["champion"]["holdout"].items()
            if isinstance(value, float)
        },
        "test_f1_train_split_model": round(evaluation["scores"]["test"]["overall"]["f1"], 4),
        "behavioural": {k: evaluation["behavioural"][k] for k in ("passed", "total")},
    }


def real_data(root: Path) -> dict:
    home = root / "home"
    env = fresh_env(home)
    figures = measured(JOB, env)
    output = figures.pop("output")
    if not figures["success"]:
        raise SystemExit(output[-3000:])
    return {"end_to_end_seconds": figures["wall_s"], **champion(home, env), "python": sys.version.split()[0]}


def overhead(root: Path, repeats: int) -> dict:
    """Median wall and CPU seconds, on the real data, of the job and of its functions in one process."""
    runs: dict[str, list[dict]] = {"direct": [], "job": []}
    for attempt in range(repeats):
        home = root / f"direct-{attempt}"
        direct = DIRECT_DATAOPS.format(source=str(DATASET_DIR), warehouse=str(home / "warehouse.duckdb"))
        runs["direct"].append(measured([sys.executable, "-c", direct + DIRECT_MLOPS], fresh_env(home)))
        runs["job"].append(measured(JOB, fresh_env(root / f"job-{attempt}")))
    failed = [run["output"][-3000:] for values in runs.values() for run in values if not run["success"]]
    if failed:
        raise SystemExit(failed[0])
    medians = median_times(runs)
    return {
        **medians,
        "ratio_wall": round(medians["job_wall_s"] / medians["direct_wall_s"], 2),
        "ratio_cpu": round(medians["job_cpu_s"] / medians["direct_cpu_s"], 2),
        "job_steps_s": step_seconds(runs["job"][len(runs["job"]) // 2]["output"]),
    }


def at_size(root: Path, rows: int, trials: int | None) -> dict:
    source = synthetic_source(root / f"source-{rows}", rows)
    home = root / f"home-{rows}"
    env = fresh_env(home, source=source)
    if trials is not None:
        env["TAGIFAI_TUNING_TRIALS"] = str(trials)
    figures = measured(JOB, env)
    output = figures.pop("output")
    steps = step_seconds(output)
    figures["rows_per_s"] = round(rows / figures["wall_s"])
    figures["stages"] = {
        stage: {"seconds": steps[step], "rows_per_s": round(rows / max(steps[step], 0.01))}
        for stage, step in STAGES.items()
        if step in steps
    }
    figures["steps_s"] = steps
    if figures["success"]:
        figures.update(champion(home, env))
    else:
        figures["error_tail"] = output[-3000:]
    shutil.rmtree(source)
    shutil.rmtree(home)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="none: the real data")
    parser.add_argument("--trials", type=int, default=None, help="Optuna trials per sized run (default: 12)")
    parser.add_argument("--overhead", type=int, default=0, help="repeats of the overhead comparison")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if arguments.overhead:
            report = {"machine": machine(), "overhead_real_data": overhead(root, arguments.overhead)}
            print(json.dumps(report, indent=2))
            return
        if not arguments.sizes:
            print(json.dumps(real_data(root), indent=2))
            return
        report: dict = {"machine": machine(), "end_to_end": {}}
        for rows in arguments.sizes:
            report["end_to_end"][str(rows)] = at_size(root, rows, arguments.trials)
            report["end_to_end"][str(rows)]["load_1min_after"] = machine()["load_1min"]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
