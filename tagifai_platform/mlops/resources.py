"""Resources of the MLOps domain: the feature store, the Optuna study, the MLflow registry and run."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from tagifai_platform.settings import sqlite_file


class FeatureStore(dg.ConfigurableResource):
    """The Feast repository under the home, its registry and online store on servers when set;
    opened once per step (Feast is slow to import)."""

    repo_dir: str
    registry: str | None = None
    online_store: str | None = None
    _store = PrivateAttr(default=None)

    @property
    def store(self):
        from tagifai_platform.features import feature_store

        if self._store is None:
            self._store = feature_store(Path(self.repo_dir), self.registry, self.online_store)
        return self._store


class TuningStudies(dg.ConfigurableResource):
    """Optuna studies persisted in a database (SQLite under the home, or a server that several tuning
    workers share), so a later run resumes the same study.

    Each running trial records a heartbeat every ``heartbeat_seconds``. A trial whose process died
    stays RUNNING in the store; once its last heartbeat is ``grace_seconds`` old, Optuna marks it
    FAILED before the study's next trial (``fail_stale_trials``). A heartbeat, rather than failing
    every RUNNING trial on resume, leaves alone the trials of another run tuning at the same time.
    With ``workers`` above 1, a run's trials are shared out among that many processes
    (:meth:`optimize_in_parallel`); worth it with a database server as the storage.
    """

    storage: str
    trials: int = 12
    workers: int = 1
    seed: int = 42
    heartbeat_seconds: int = 10
    grace_seconds: int = 30

    def study(self, name: str):
        import warnings

        import optuna

        if (database := sqlite_file(self.storage)) is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # the heartbeat is marked experimental since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                self.storage, heartbeat_interval=self.heartbeat_seconds, grace_period=self.grace_seconds
            )
        return optuna.create_study(
            study_name=name,
            storage=storage,
            direction="maximize",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=self.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        )

    def optimize_in_parallel(self, name: str, objective: Callable, n_trials: int, workers: int) -> None:
        """Run ``n_trials`` trials of study ``name`` in ``workers`` processes at once.

        The workers share the study through the storage alone (a database server; on several
        machines each would run its share against the same URL): the storage numbers each trial,
        and every worker's sampler sees the others' finished trials. Each worker samples with its
        own seed, since workers with one seed would draw the same parameters. ``objective`` must
        be picklable (a module-level function, or a ``functools.partial`` of one).
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Created once here rather than raced for by the workers. The seeds move on with the study:
        # a later call with the same seeds would repeat the earlier calls' random draws.
        seed = self.seed + len(self.study(name).trials)
        fields = self.model_dump()  # a resource does not pickle; its fields do
        shares = [n_trials // workers + (worker < n_trials % workers) for worker in range(workers)]
        # Spawned, not forked: a fork would copy this process's open database connections.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = [
                pool.submit(_optimize, {**fields, "seed": seed + worker}, name, objective, share)
                for worker, share in enumerate(shares)
                if share
            ]
            for future in done:
                future.result()  # a worker's error is this call's error


def _optimize(fields: dict, name: str, objective: Callable, n_trials: int) -> None:
    TuningStudies(**fields).study(name).optimize(objective, n_trials=n_trials)


def trial_ledger(study) -> dict:
    """What a study holds, to see that parallel workers neither lost nor duplicated a trial: the
    trials by state, whether their numbers are exactly 0..n-1, and how many parameter sets differ."""
    from collections import Counter

    numbers = sorted(trial.number for trial in study.trials)
    return {
        "trials": len(numbers),
        "numbers_are_0_to_n": numbers == list(range(len(numbers))),
        "states": dict(Counter(trial.state.name for trial in study.trials)),
        "distinct_params": len({tuple(sorted(trial.params.items())) for trial in study.trials}),
    }


class PromotionPolicy(dg.ConfigurableResource):
    """How much better a challenger must be to replace the champion (the defaults are the settings')."""

    margin: float
    slice_tolerance: float
    quality_floor: float
    non_inferiority_margin: float
    confidence: float
    resamples: int


@dg.resource(
    config_schema={"experiment_name": str, "mlflow_tracking_uri": str},
    required_resource_keys={"model_registry"},
)
def mlflow_run(context: dg.InitResourceContext):
    """dagster-mlflow's tracking resource, started once the experiment exists under the home.

    dagster-mlflow would otherwise create the experiment with MLflow's default artifact
    location, ``./mlruns`` in whatever directory the run was started from. It is imported here,
    not at module level, because it imports all of MLflow (3 s) and every step process loads
    the code location.
    """
    import mlflow
    from dagster_mlflow import mlflow_tracking

    while mlflow.active_run() is not None:  # left over by an earlier run in this process (tests, retries)
        mlflow.end_run()
    context.resources.model_registry.registry.ensure_experiment(context.resource_config["experiment_name"])
    for tracking in mlflow_tracking.resource_fn(context):  # set up, hand over, clean up on error
        tracking.mlflow_run_id = mlflow.active_run().info.run_id  # so that later steps resume this run
        yield tracking
    _end_run_no_step_ended(context, mlflow)


def _end_run_no_step_ended(context: dg.InitResourceContext, mlflow) -> None:
    """End the MLflow run if it is still active once the steps are over, FAILED if one of them failed.

    Each MLOps step ends the run it resumed (``tracking.mlflow_step``), so a run active here was
    never used by a step: the Dagster run failed before its first MLflow step (a bad annotated file
    fails ``training_dataset``), or ran none. dagster-mlflow's own clean-up acts only on an
    exception raised in this teardown, which a failed step is not, and it takes MLflow's exit hook
    away: the run stayed RUNNING in the store until the daemon's sensor ended it, and active in the
    process, where the next ``mlflow.start_run`` refused to start.
    """
    if mlflow.active_run() is None:
        return
    failed = context.instance.all_logs(context.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    mlflow.end_run(status="FAILED" if failed else "FINISHED")
