"""Wall time of the dataops job against the same functions called directly in one Python process.

Run with ``make benchmark``. Each figure is measured in a fresh subprocess on a fresh home, so
imports (Great Expectations takes seconds) count the same way they would for a user.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tagifai_platform_tests.conftest import DATASET_DIR
from tagifai_platform_tests.e2e.conftest import BIN, PROJECT_ROOT, user_env

DIRECT = """
import time
start = time.perf_counter()
from tagifai_platform.settings import quiet_libraries
quiet_libraries()
from tagifai_platform.data import sources, suites, transform
from tagifai_platform.data.validation import ephemeral_context, validate_frame
source = {source!r}
projects = sources.read_projects(source + "/projects.csv")
tags = sources.read_tags(source + "/tags.csv", projects)
holdout = sources.read_holdout(source + "/holdout.csv")
context = ephemeral_context()
for frame, suite in [(suites.projects_for_validation(projects), suites.raw_projects_suite()),
                     (tags, suites.raw_tags_suite(projects["id"])),
                     (suites.projects_for_validation(holdout), suites.holdout_projects_suite())]:
    assert validate_frame(context, frame, suite).success
labeled = transform.label_projects(projects, tags)
holdout = transform.label_holdout(holdout)
assert validate_frame(context, labeled, suites.labeled_projects_suite(holdout)).success
print(len(labeled), time.perf_counter() - start)
"""


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=PROJECT_ROOT)
    return time.perf_counter() - start


def fresh_env(home: Path, executor: str = "in_process") -> dict:
    return user_env(home, DATASET_DIR, TAGIFAI_EXECUTOR=executor)


def main(repeats: int = 3) -> None:
    figures: dict[str, list[float]] = {"direct": [], "job_in_process": [], "job_multiprocess": []}
    job = [str(BIN / "dagster"), "job", "execute", "-m", "tagifai_platform.definitions", "-j", "dataops"]
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = fresh_env(Path(tmp) / "direct")
            figures["direct"].append(
                timed([sys.executable, "-c", DIRECT.format(source=str(DATASET_DIR))], env)
            )
            figures["job_in_process"].append(timed(job, fresh_env(Path(tmp) / "in_process")))
            figures["job_multiprocess"].append(timed(job, fresh_env(Path(tmp) / "multi", "multiprocess")))
    print(
        json.dumps(
            {
                name: {
                    "median_s": round(sorted(values)[len(values) // 2], 1),
                    "runs": [round(v, 1) for v in values],
                }
                for name, values in figures.items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
