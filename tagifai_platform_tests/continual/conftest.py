"""Continual-learning fixtures: a home with a promoted champion, and traffic sent to the real service."""

from contextlib import contextmanager

import dagster as dg
import httpx

from tagifai_platform.definitions import build_definitions
from tagifai_platform.settings import load_settings
from tagifai_platform_tests.conftest import dagster_instance

FEW_TRIALS = {"ops": {"best_hyperparameters": {"config": {"n_trials": 2}}}}


def home_settings(root, dataset_dir, **env):
    """A home whose labels count as soon as they exist: the service logs requests at the real time,
    so a test cannot wait out a label delay (``TAGIFAI_LABEL_DELAY_HOURS`` is tested on its own).
    A scenario sends tens of requests, so a retraining goes ahead on 20 new labels."""
    return load_settings(
        {
            "TAGIFAI_HOME": str(root / "home"),
            "TAGIFAI_SOURCE": str(dataset_dir),
            "TAGIFAI_TUNING_TRIALS": "2",
            "TAGIFAI_LABEL_DELAY_HOURS": "0",
            "TAGIFAI_MIN_NEW_LABELS": "20",
            **env,
        }
    )


@contextmanager
def trained_home(root, dataset_dir):
    """Settings and a Dagster instance on which the end-to-end job has promoted a first champion."""
    settings = home_settings(root, dataset_dir)
    with dagster_instance(root / "dagster") as instance:
        job = build_definitions(settings).resolve_job_def("end_to_end")
        assert job.execute_in_process(instance=instance, run_config=FEW_TRIALS).success
        yield settings, instance


def send(service_url: str, texts: list[str], batch: int = 10) -> list[dict]:
    """POST the texts to /predict in batches, as clients would; returns every answer."""
    answers = []
    with httpx.Client(base_url=service_url, timeout=30) as client:
        for start in range(0, len(texts), batch):
            response = client.post("/predict", json={"texts": texts[start : start + batch]})
            response.raise_for_status()
            answers.append(response.json())
    return answers


def run_job(settings, instance, name: str, run_config=None) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(name)
    return job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)


def chosen_branch(result: dg.ExecuteInProcessResult) -> set[str]:
    """The policy engine's ops that ran, besides the two that always run."""
    ran = {event.node_name for event in result.all_events if event.is_step_success}
    return ran - {"monitoring", "update_policy_engine"}
