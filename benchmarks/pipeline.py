"""The quality bar and the time it takes: `make run`'s job on a fresh home, then the champion's holdout F1.

Run with ``make benchmark``; prints JSON with the wall time of ``dagster job execute -j end_to_end``
(default settings: 12 Optuna trials, in-process executor) and the champion's holdout scores.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dataops import BIN, PROJECT_ROOT, fresh_env


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh_env(Path(tmp) / "home")
        start = time.perf_counter()
        subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "execute",
                "-m",
                "tagifai_platform.definitions",
                "-j",
                "end_to_end",
            ],
            env=env,
            check=True,
            capture_output=True,
            cwd=PROJECT_ROOT,
        )
        seconds = time.perf_counter() - start
        status = json.loads(
            subprocess.run(
                [str(BIN / "tagifai"), "status"], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
        evaluation = json.loads((Path(tmp) / "home" / "records" / "model_evaluation.json").read_text())
    print(
        json.dumps(
            {
                "end_to_end_seconds": round(seconds, 1),
                "champion_version": status["champion"]["version"],
                "holdout": {
                    key: round(value, 4)
                    for key, value in status["champion"]["holdout"].items()
                    if isinstance(value, float)
                },
                "test_f1_train_split_model": round(evaluation["scores"]["test"]["overall"]["f1"], 4),
                "behavioural": {k: evaluation["behavioural"][k] for k in ("passed", "total")},
                "python": sys.version.split()[0],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
