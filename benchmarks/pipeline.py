"""The whole pipeline (`make run`'s `end_to_end` job) on a fresh home: on the real data, or at growing sizes.

    .venv/bin/python -m benchmarks.pipeline                        # the real data (`make benchmark`)
    .venv/bin/python -m benchmarks.pipeline --sizes 10000 100000   # synthetic sources of these sizes

Prints JSON. On the real data: the wall time of ``dagster job execute -j end_to_end`` (default settings: 12
Optuna trials, in-process executor) and the champion's holdout scores. At a size: a synthetic source (as in
``benchmarks.dataops``) through the same job, with its wall and CPU time, the peak resident memory of the
job's process as the OS counted it, the seconds of every step as Dagster logged them, rows per second of each
heavy stage (features published and materialized, the point-in-time training set, tuning, training,
evaluation) and the champion's holdout scores. ``--trials`` sets ``TAGIFAI_TUNING_TRIALS`` for the sized runs.
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

from benchmarks.dataops import BIN, fresh_env, machine, measured, synthetic_source

JOB = [str(BIN / "dagster"), "job", "execute", "-m", "tagifai_platform.definitions", "-j", "end_to_end"]
# The stages whose cost grows with the data, by the step that does the work.
STAGES = {
    "features_publish_materialize": "project_features",
    "point_in_time_training_set": "training_dataset",
    "tuning": "best_hyperparameters",
    "training": "challenger_model",
    "evaluation": "evaluate_challenger",
}
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
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
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
