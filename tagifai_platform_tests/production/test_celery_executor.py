"""The end_to_end job with every step on Celery workers (separate processes) through a Redis broker."""

import json

from tagifai_platform import services
from tagifai_platform_tests.e2e.conftest import run, user_env

END_TO_END = ["dagster", "job", "execute", "-m", "tagifai_platform.definitions", "-j", "end_to_end"]


def celery_env(home, dataset_dir, broker: str, **settings: str) -> dict:
    settings = {"TAGIFAI_TUNING_TRIALS": "2", **settings}
    return user_env(home, dataset_dir, TAGIFAI_EXECUTOR="celery", TAGIFAI_CELERY_BROKER=broker, **settings)


def start_workers(servers, env, broker: str, count: int) -> list:
    return [
        services.start_celery_worker(servers, f"worker{number}", env, broker, broker)
        for number in range(count)
    ]


def champion(env, cwd) -> dict:
    result = run(["tagifai", "status"], env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["champion"]


def test_celery_workers_run_end_to_end_with_the_in_process_result(
    tmp_path, dataset_dir, redis, servers, trained_home
):
    env = celery_env(tmp_path / "home", dataset_dir, redis)
    start_workers(servers, env, redis, count=2)

    result = run(END_TO_END, env, cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    logs = [(servers / f"worker{number}.log").read_text() for number in range(2)]
    assert all("succeeded" in log for log in logs), "both workers ran steps"
    assert "celery" in result.stderr.lower()
    in_process_env, in_process_root = trained_home
    on_celery, in_process = champion(env, tmp_path), champion(in_process_env, in_process_root)
    assert on_celery["version"] == in_process["version"] == 1
    assert on_celery["holdout"] == in_process["holdout"], "the same model as the in-process executor trains"
