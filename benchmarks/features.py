"""Feast at growing sizes: publishing the features, publishing a new batch, the point-in-time training set.

    .venv/bin/python -m benchmarks.features                  # 10k, 100k and 1M synthetic projects
    .venv/bin/python -m benchmarks.features --sizes 10000

Prints JSON. For each size, the labeled projects of a synthetic source (``tagifai_platform.data.synthetic``
through the DataOps transform) are published into a fresh Feast repository by ``publish_features``, as the
``project_features`` asset does (offline parquet, apply, the tags into the online store). Then a new batch
arrives: 1% more projects, and 1% of the earlier ones relabeled, published the same way. Then the
point-in-time training set of that union is made as the ``training_dataset`` asset makes it
(``mlops.features.point_in_time``).

Each of the three runs in a fresh process: its wall and CPU seconds and peak resident memory as the OS counted
them (``wait4``, imports and reading the frame included), the seconds and CPU seconds of the work itself, rows
per second of the work, the 1-minute load average when it ended, and Feast's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.dataops import DATASET_DIR, SIZES, in_own_process, machine, measured

# The work of each run, for a fresh interpreter; prints one line ``RESULT {json}``.
RUN = """
import json, time
import pandas as pd
from tagifai_platform.features import feature_store, publish_features
{imports}
frame = pd.read_parquet({frame!r})
store = feature_store({repo_dir!r})
began, cpu = time.perf_counter(), time.process_time()
{work}
work = {{"work_s": round(time.perf_counter() - began, 2), "work_cpu_s": round(time.process_time() - cpu, 2)}}
print("RESULT " + json.dumps({{**work, **details}}))
"""
PUBLISH = """
published = publish_features(store, frame)
kept = ("rows", "online_write", "online_rows_written", "offline_s", "apply_s")
details = {key: published[key] for key in kept}
"""
TRAINING_SET = """
dataset, _ = point_in_time(frame.assign(batch="source"), store)
details = {"rows": len(dataset), "missing_features": int((dataset["split"] == "missing_features").sum())}
"""
NEW_BATCH_SHARE = 0.01


def labeled_frames(directory: Path, rows: int) -> tuple[Path, Path]:
    """The labeled union of a synthetic source, and the union after a new batch and some relabels."""
    import pandas as pd

    from tagifai_platform.data import sources, transform
    from tagifai_platform.data.synthetic import synthesize

    projects = sources.read_projects(str(DATASET_DIR / "projects.csv"))
    tags = sources.read_tags(str(DATASET_DIR / "tags.csv"), projects)
    first = synthesize(projects, tags, rows, seed=rows)
    labeled = transform.label_projects(first.projects, first.tags)
    added = max(1, int(rows * NEW_BATCH_SHARE))
    batch = synthesize(projects, tags, added, seed=rows + 1, first_id=int(labeled["id"].max()) + 1)
    union = pd.concat([labeled, transform.label_projects(batch.projects, batch.tags)], ignore_index=True)
    rng = np.random.default_rng(rows)
    relabeled = rng.choice(len(labeled), size=added, replace=False)
    union.loc[relabeled, "tag"] = np.where(union.loc[relabeled, "tag"] == "other", "mlops", "other")
    paths = directory / f"labeled-{rows}.parquet", directory / f"union-{rows}.parquet"
    labeled.to_parquet(paths[0], index=False)
    union.to_parquet(paths[1], index=False)
    return paths


def run(frame: Path, repo_dir: Path, work: str, imports: str = "") -> dict:
    script = RUN.format(frame=str(frame), repo_dir=str(repo_dir), work=work, imports=imports)
    figures = measured([sys.executable, "-c", script], dict(os.environ))
    figures["load_1min"] = round(os.getloadavg()[0], 2)
    output = figures.pop("output")
    results = [line for line in output.splitlines() if line.startswith("RESULT ")]
    if not figures["success"] or not results:
        figures["error_tail"] = output[-2000:]
        return figures
    figures.update(json.loads(results[-1].removeprefix("RESULT ")))
    figures["rows_per_s"] = round(figures["rows"] / figures["work_s"]) if figures["work_s"] else None
    return figures


def at_size(root: Path, rows: int) -> dict:
    labeled, union = in_own_process(labeled_frames, root, rows)
    repo_dir = root / f"feast-{rows}"
    runs = {
        "publish": (labeled, PUBLISH, ""),
        "publish_new_batch": (union, PUBLISH, ""),
        "point_in_time_training_set": (
            union,
            TRAINING_SET,
            "from tagifai_platform.mlops.features import point_in_time",
        ),
    }
    report = {}
    for name, (frame, work, imports) in runs.items():
        report[name] = run(frame, repo_dir, work, imports)
        print(rows, name, json.dumps(report[name]), file=sys.stderr, flush=True)
    for path in (labeled, union):
        path.unlink()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    arguments = parser.parse_args()
    report: dict = {"machine": machine(), "features": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in arguments.sizes:
            report["features"][str(rows)] = at_size(Path(tmp), rows)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
