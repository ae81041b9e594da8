"""Parallel tuning: worker processes share one Optuna study through PostgreSQL."""

from functools import partial

from tagifai_platform.ml.splits import split_dataset
from tagifai_platform.ml.tuning import objective
from tagifai_platform.mlops.resources import TuningStudies, trial_ledger


def test_workers_sharing_a_postgres_study_neither_lose_nor_duplicate_a_trial(postgres, labeled):
    studies = TuningStudies(storage=postgres.create_database("optuna_parallel"))
    splits = split_dataset(labeled, seed=0)

    studies.optimize_in_parallel("tagifai", partial(objective, splits=splits), n_trials=3, workers=2)
    # A second call goes on with the same study (one worker idle), sampling anew.
    studies.optimize_in_parallel("tagifai", partial(objective, splits=splits), n_trials=1, workers=2)

    ledger = trial_ledger(studies.study("tagifai"))
    assert ledger["trials"] == 4 and ledger["numbers_are_0_to_n"], ledger
    assert set(ledger["states"]) <= {"COMPLETE", "PRUNED"}, ledger
    assert ledger["distinct_params"] == 4, "each worker samples its own parameters"
