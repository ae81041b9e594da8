"""Parallel tuning: N worker processes share one Optuna study through PostgreSQL.

Run with ``.venv/bin/python -m benchmarks.parallel_tuning [--workers N] [--trials T]`` (part of
``make benchmark``; needs Debian's ``postgresql``). It starts a throw-away PostgreSQL server, runs
the same number of trials of the platform's objective on the real data set with one worker, then
with N, each in a study of its own, and prints one JSON object: the wall time of each (worker
start-up included), the speed-up, and each study's ledger (trial numbers 0..T-1, one per trial,
states, distinct parameter sets), which shows that no trial was lost or run twice.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

from benchmarks.dataops import DATASET_DIR
from tagifai_platform import services
from tagifai_platform.data.sources import read_projects, read_tags
from tagifai_platform.data.transform import label_projects
from tagifai_platform.ml.splits import split_dataset
from tagifai_platform.ml.tuning import TuningFolds, objective
from tagifai_platform.mlops.resources import TuningStudies, trial_ledger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()
    projects = read_projects(str(DATASET_DIR / "projects.csv"))
    splits = split_dataset(
        label_projects(projects, read_tags(str(DATASET_DIR / "tags.csv"), projects)), seed=0
    )
    directory = Path(tempfile.mkdtemp(prefix="tagifai-postgres-"))
    server = services.Postgres(directory, services.free_port())
    results = {}
    try:
        server.start()
        for workers in sorted({1, args.workers}):
            studies = TuningStudies(storage=server.create_database(f"optuna_{workers}_workers"))
            start = time.perf_counter()
            studies.optimize_in_parallel(
                "tagifai", partial(objective, folds=TuningFolds(splits.train)), args.trials, workers
            )
            seconds = time.perf_counter() - start
            results[workers] = {"seconds": round(seconds, 1), **trial_ledger(studies.study("tagifai"))}
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print(
        json.dumps(
            {
                "trials": args.trials,
                "workers": {str(workers): result for workers, result in results.items()},
                "speed_up": round(results[1]["seconds"] / results[args.workers]["seconds"], 2),
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
