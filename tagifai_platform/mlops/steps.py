"""The tune -> train -> evaluate -> gate -> promote steps, shared by the MLOps assets and the retrain op.

A retrained model must pass exactly the gate a freshly trained one does, so both paths call these
functions; the Dagster code around them only adds metadata. They take their dependencies (study,
registry, MLflow run, policy, report store) as arguments and hold no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tagifai_platform.data.transform import label_holdout
from tagifai_platform.ml.splits import Splits
from tagifai_platform.mlops.tracking import data_fingerprint, log_trial, mlflow_step
from tagifai_platform.registry import (
    CALIBRATOR,
    CHAMPION,
    HOLDOUT_METRICS_TAG,
    REFERENCE,
    ModelRegistry,
    log_metrics,
    log_model,
)
from tagifai_platform.version import code_version


def tune(
    study,
    training_dataset: pd.DataFrame,
    n_trials: int,
    mlflow,
    in_parallel: Callable[[Callable, int], None] | None = None,
) -> dict[str, Any]:
    """Run ``n_trials`` more trials of the persisted study; every trial becomes a nested MLflow run.

    ``in_parallel(objective, n_trials)`` runs the trials in worker processes instead (they share
    the study through its storage); their trials are logged to MLflow once they are done, from
    the study, since a worker process has no MLflow run of this step.
    """
    import functools

    import optuna
    from optuna.trial import TrialState

    from tagifai_platform.ml.tuning import (
        TuningFolds,
        best_params_or_default,
        default_trial_params,
        objective,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = Splits.of(training_dataset)
    earlier = len(study.trials)
    # The known-good defaults go first, so tuning can only improve on them; again if the process
    # that was trying them died, or every earlier trial failed.
    if not any(trial.state in (TrialState.COMPLETE, TrialState.WAITING) for trial in study.trials):
        study.enqueue_trial(default_trial_params())
    on_splits = functools.partial(objective, folds=TuningFolds(splits.train))  # picklable, for workers
    with mlflow_step(mlflow):
        if in_parallel is None:
            study.optimize(
                on_splits, n_trials=n_trials, callbacks=[lambda study, trial: log_trial(mlflow, study, trial)]
            )
        else:
            in_parallel(on_splits, n_trials)
            for trial in study.trials[earlier:]:
                log_trial(mlflow, study, trial)
    best = study.best_trial if study.best_trials else None
    return {
        "params": best_params_or_default(study),
        "cv_f1": best.value if best else None,
        "trial": best.number if best else None,
        "trials_before": earlier,
        "trials_total": len(study.trials),
        "trial_states": pd.Series([t.state.name for t in study.trials]).value_counts().to_dict(),
    }


def train_and_register(
    training_dataset: pd.DataFrame, params: dict, registry: ModelRegistry, mlflow, lineage: dict[str, str]
) -> dict[str, Any]:
    """Train, measure on the test split, refit on every labeled row, then log and register it.

    The test scores belong to the model fitted on the train split alone (the refitted one has
    seen the test rows); the frozen holdout, which no model ever sees, judges the refitted one.
    The monitoring baseline (reference and calibrator) comes from out-of-fold answers on the rows
    it is refit on, for the same reason. ``lineage`` (the Dagster run, the training set's version)
    is written on the registered version.
    """
    from tagifai_platform.ml.evaluation import evaluate
    from tagifai_platform.ml.model import train_and_refit
    from tagifai_platform.monitoring.baseline import fit_baseline

    splits = Splits.of(training_dataset)
    trained = train_and_refit(params, splits)
    candidate, model = trained.candidate, trained.model
    validation = evaluate(candidate, splits.validation, trained.answers["validation"])["overall"]
    test = evaluate(candidate, splits.test, trained.answers["test"])
    learned = pd.concat(splits.as_dict().values(), ignore_index=True)
    # The served model's own parameters: at scale its features are hashed, and so are those of the
    # baseline's fold models, which then hash each of their rows once for all folds.
    baseline = fit_baseline(learned, model.params, model.threshold)
    fingerprint = data_fingerprint(training_dataset)
    with mlflow_step(mlflow):
        mlflow.log_params({f"model.{key}": value for key, value in params.items()})
        info = log_model(
            model,
            training_dataset,
            {**_floats("validation", validation), **_floats("test", test["overall"])},
            {REFERENCE: baseline.reference.to_dict(), CALIBRATOR: baseline.calibrator.to_dict()},
            digest=fingerprint,
        )
        run_id = mlflow.active_run().info.run_id
    version = registry.register(
        info.model_uri,
        run_id=run_id,
        model_id=info.model_id,
        tags={
            **lineage,
            "data_fingerprint": fingerprint,
            "params": params,
            "threshold": model.threshold,
            "code_version": code_version(),
            "train_rows": len(training_dataset),
        },
    )
    return {
        "version": version.version,
        "model_uri": info.model_uri,
        "model_id": info.model_id,
        "run_id": run_id,
        "threshold": model.threshold,
        "data_fingerprint": fingerprint,
        "validation": validation,
        "test": test,
    }


def _floats(prefix: str, scores: dict[str, Any]) -> dict[str, float]:
    """The float scores of one evaluation as MLflow metrics named ``<prefix>_<score>``."""
    return {f"{prefix}_{key}": value for key, value in scores.items() if isinstance(value, float)}


GATE_SEED = 20240601  # the paired bootstrap is seeded, so a gate decision can be replayed


@dataclass(frozen=True)
class Evaluation:
    record: dict[str, Any]
    picture: bytes
    picture_path: Path
    regression_report: str | None

    @property
    def promote(self) -> bool:
        return self.record["decision"]["promote"]


def evaluate_against_champion(
    challenger_record: dict[str, Any],
    holdout_projects: pd.DataFrame,
    registry: ModelRegistry,
    policy,
    mlflow,
    save_picture: Callable[[str, bytes], Path],
    recent: pd.DataFrame | None = None,
) -> Evaluation:
    """Score the challenger on the holdout, next to the champion on the same holdout, and decide.

    ``policy`` has the gate's settings (``PromotionPolicy``: margins, slice tolerance, floor, the
    bootstrap's confidence and resamples).

    The decision is paired: both models answer the same texts (the holdout and ``recent``), and the
    gain's bootstrap interval, not the difference of two scores, says whether the challenger is
    better beyond noise (``ml.gate``). A challenger trained on data the champion never saw (another
    data fingerprint) may also pass by not being worse beyond the non-inferiority margin.

    ``challenger_record`` is what :func:`train_and_register` returned, test scores included.
    ``recent`` holds the newest labels a retraining set aside (``recent_eval``): both models are
    scored on them too, since the holdout predates the traffic that prompted the retraining.
    """
    from tagifai_platform.ml.evaluation import behavioural_tests, confusion_matrix_png, evaluate
    from tagifai_platform.ml.gate import compare_models, decide_promotion, regression_report_markdown

    version = challenger_record["version"]
    model = registry.load(registry.get(version))
    holdout = label_holdout(holdout_projects)
    scores = {"test": challenger_record["test"], "holdout": evaluate(model, holdout)}
    champion = registry.by_alias(CHAMPION)
    champion_model = registry.load(champion) if champion else None
    champion_scores = evaluate(champion_model, holdout) if champion else None
    judged = holdout[["text", "tag"]]
    if recent is not None and len(recent):
        scores["recent_eval"] = evaluate(model, recent)
        judged = pd.concat([judged, recent[["text", "tag"]]], ignore_index=True)
    behaviour = behavioural_tests(model)
    paired = (
        compare_models(
            model,
            champion_model,
            judged,
            confidence=policy.confidence,
            resamples=policy.resamples,
            seed=GATE_SEED,
        )
        if champion
        else None
    )
    decision = decide_promotion(
        scores["holdout"],
        champion_scores,
        margin=policy.margin,
        slice_tolerance=policy.slice_tolerance,
        quality_floor=policy.quality_floor,
        paired=paired,
        non_inferiority_margin=policy.non_inferiority_margin,
        brings_new_data=bool(champion)
        and challenger_record["data_fingerprint"] != champion.tags.get("data_fingerprint"),
        challenger_behaviour=behaviour,
        champion_behaviour=behavioural_tests(champion_model) if champion else None,
    )
    registry.set_tags(version, {HOLDOUT_METRICS_TAG: scores["holdout"]["overall"]})
    picture = confusion_matrix_png(scores["holdout"])
    picture_path = save_picture(f"confusion_matrix_v{version}.png", picture)
    with mlflow_step(mlflow):
        log_metrics(challenger_record["model_id"], _floats("holdout", scores["holdout"]["overall"]))
        if paired is not None:  # the gate's evidence, beside the scores it is about
            mlflow.log_metrics(
                {
                    "gate_f1_gain": paired.delta,
                    "gate_f1_gain_low": paired.low,
                    "gate_f1_gain_high": paired.high,
                }
            )
        mlflow.log_artifact(str(picture_path))
    record = {
        "version": version,
        "champion_version": champion.version if champion else None,
        "scores": scores,
        "champion_holdout": champion_scores,
        "champion_recent_eval": evaluate(champion_model, recent)
        if champion and "recent_eval" in scores
        else None,
        "behavioural": behaviour,
        "decision": decision.as_dict(),
    }
    report = (
        None if decision.promote else regression_report_markdown(decision, scores["holdout"], champion_scores)
    )
    return Evaluation(record, picture, picture_path, report)


def promote(
    evaluation: dict[str, Any], registry: ModelRegistry, dagster_run_id: str, reasons: list[str]
) -> dict[str, Any]:
    """Move ``champion`` to the evaluated challenger, recording the scores before and after."""
    before = evaluation["champion_holdout"]
    promoted = registry.move_champion(
        evaluation["version"],
        {
            "action": "promote",
            "dagster_run_id": dagster_run_id,
            "reasons": [*reasons, *evaluation["decision"]["reasons"]],
            "metrics_before": before["overall"] if before else None,
            "metrics_after": evaluation["scores"]["holdout"]["overall"],
        },
    )
    return champion_record(promoted)


class ChampionChangeRefused(ValueError):
    """A rollback or pin that cannot be done as asked; the message says why and what to do."""


def change_champion(
    registry: ModelRegistry, action: str, version: int | None, reasons: list[str], dagster_run_id: str
) -> dict[str, Any]:
    """Roll ``champion`` back (to ``version``, by default the one it replaced) or pin ``version``.

    A rollback without a target refuses when the champion is itself a rollback: its predecessor is
    the version that was just rolled back, and going there would flap between the two.
    """
    current = registry.by_alias(CHAMPION)
    if current is None:
        raise ChampionChangeRefused("There is no champion yet: nothing to roll back or pin.")
    promotion = current.promotion or {}
    if version is None:
        if action != "rollback":
            raise ChampionChangeRefused(f"To {action}, name the version.")
        if promotion.get("previous_version") is None:
            raise ChampionChangeRefused(
                f"v{current.version} is the first champion: there is no earlier one to go back to."
            )
        if promotion.get("action") == "rollback":
            raise ChampionChangeRefused(
                f"v{current.version} is itself a rollback (from v{promotion['previous_version']}), which "
                "a second rollback would bring back: name the version to roll back to with --to."
            )
        version = int(promotion["previous_version"])
    try:
        target = registry.get(version)
    except Exception as error:  # MLflow raises its own for an unknown version
        raise ChampionChangeRefused(f"There is no version {version} of the model.") from error
    if target.version == current.version:
        raise ChampionChangeRefused(f"v{version} is the champion already.")
    moved = registry.move_champion(
        target.version,
        {
            "action": action,
            "dagster_run_id": dagster_run_id,
            "reasons": reasons,
            "metrics_before": current.holdout_metrics,
            "metrics_after": target.holdout_metrics,
        },
    )
    return champion_record(moved)


def champion_record(champion) -> dict[str, Any]:
    """What the ``champion_model`` asset says of the version now serving, and where it came from."""
    return {
        "version": champion.version,
        "reasons": [],
        **champion.promotion,
        "training_dataset_version": champion.tags.get("training_dataset_version"),
        "trained_in_run": champion.tags.get("dagster_run_id"),
    }
