"""Parallel tuning: worker processes share one Optuna study through PostgreSQL."""

from functools import partial

from tagifai_platform.ml.splits import split_dataset
from tagifai_platform.ml.tuning import TuningFolds, objective
from tagifai_platform.mlops.resources import TuningStudies, trial_ledger


def test_workers_sharing_a_postgres_study_neither_lose_nor_duplicate_a_trial(postgres, labeled):
    studies = TuningStudies(storage=postgres.create_database("optuna_parallel"))
    on_folds = partial(objective, folds=TuningFolds(split_dataset(labeled, seed=0).train))

    studies.optimize_in_parallel("tagifai", on_folds, n_trials=3, workers=2)
    # A second call goes on with the same study (one worker idle), sampling anew.
    studies.optimize_in_parallel("tagifai", on_folds, n_trials=1, workers=2)

    ledger = trial_ledger(studies.study("tagifai"))
    assert ledger["trials"] == 4 and ledger["numbers_are_0_to_n"], ledger
    assert set(ledger["states"]) <= {"COMPLETE", "PRUNED"}, ledger
    assert ledger["distinct_params"] == 4, "each worker samples its own parameters"


def test_end_to_end_tunes_with_two_workers_and_logs_every_trial(postgres, dataset_dir, tmp_path):
    """``TAGIFAI_TUNING_WORKERS=2``: the tuning step shares its trials out; each is still an MLflow run."""
    import mlflow

    from tagifai_platform.definitions import build_definitions
    from tagifai_platform.mlops.training import STUDY_NAME
    from tagifai_platform.registry import EXPERIMENT_NAME
    from tagifai_platform.settings import load_settings
    from tagifai_platform_tests.conftest import dagster_instance

    storage = postgres.create_database("optuna_end_to_end")
    settings = load_settings(
        {
            "TAGIFAI_HOME": str(tmp_path / "home"),
            "TAGIFAI_SOURCE": str(dataset_dir),
            "TAGIFAI_OPTUNA_STORAGE": storage,
            "TAGIFAI_TUNING_WORKERS": "2",
            "TAGIFAI_TUNING_TRIALS": "3",
        }
    )
    with dagster_instance(tmp_path / "dagster") as instance:
        result = (
            build_definitions(settings).resolve_job_def("end_to_end").execute_in_process(instance=instance)
        )
    assert result.success
    ledger = trial_ledger(TuningStudies(storage=storage).study(STUDY_NAME))
    assert ledger["trials"] == 3 and ledger["numbers_are_0_to_n"], ledger
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    trials = mlflow.search_runs(
        experiment_names=[EXPERIMENT_NAME], filter_string="tags.optuna_study = 'tagifai'"
    )
    assert sorted(trials["tags.mlflow.runName"]) == ["trial-0", "trial-1", "trial-2"]
