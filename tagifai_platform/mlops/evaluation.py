"""Evaluation and the champion/challenger gate.

``evaluate_challenger`` scores the challenger (and the champion, on the same holdout) and decides;
the blocking check ``challenger_beats_champion`` turns that decision into the gate, so
``champion_model`` only runs when the challenger wins. When it loses, the same step emits the
optional ``regression_report`` instead, and the champion stays exactly as it was.
"""

import base64
from typing import Any, Literal

import dagster as dg
import pandas as pd

from tagifai_platform.mlops import steps
from tagifai_platform.mlops.resources import PromotionPolicy
from tagifai_platform.monitoring.retraining import RECENT_EVAL
from tagifai_platform.shared import DOCUMENTS, MLOPS, ModelRegistryResource, ReportStore
from tagifai_platform.version import source_version

EVALUATION_CODE = source_version(
    "tagifai_platform.ml.evaluation", "tagifai_platform.ml.gate", "tagifai_platform.mlops.steps"
)


def evaluation_metadata(evaluation: steps.Evaluation) -> dict:
    """What the UI shows of an evaluation: headline scores, per-class table, behaviour, the picture."""
    record = evaluation.record
    holdout = record["scores"]["holdout"]
    champion = record["champion_holdout"]
    per_class = pd.DataFrame.from_dict(holdout["per_class"], orient="index")
    image = base64.b64encode(evaluation.picture).decode()
    return {
        "holdout_f1": holdout["overall"]["f1"],
        "test_f1": record["scores"]["test"]["overall"]["f1"],
        "recent_eval_f1": record["scores"]["recent_eval"]["overall"]["f1"]
        if "recent_eval" in record["scores"]
        else None,
        "champion_holdout_f1": champion["overall"]["f1"] if champion else None,
        "promote": evaluation.promote,
        "gate_rule": record["decision"]["rule"],
        "paired_f1_gain": dg.MetadataValue.json(record["decision"]["paired"] or {}),
        "per_class": dg.MetadataValue.md(per_class.round(4).to_markdown()),
        "behavioural_tests": dg.MetadataValue.json(
            {key: value for key, value in record["behavioural"].items() if key != "failures"}
        ),
        "confusion_matrix": dg.MetadataValue.md(f"![confusion matrix](data:image/png;base64,{image})"),
        "confusion_matrix_path": dg.MetadataValue.path(str(evaluation.picture_path)),
    }


@dg.multi_asset(
    group_name=MLOPS,
    outs={
        "model_evaluation": dg.AssetOut(
            io_manager_key=DOCUMENTS,
            kinds={"sklearn", "mlflow"},
            code_version=EVALUATION_CODE,
            description="The challenger's scores (and the champion's on the same holdout), and the decision.",
        ),
        "regression_report": dg.AssetOut(
            io_manager_key=DOCUMENTS,
            is_required=False,
            kinds={"markdown"},
            code_version=EVALUATION_CODE,
            description="Why a challenger was refused, with the deltas; only made when it was.",
        ),
    },
)
def evaluate_challenger(
    challenger_model: dict,
    holdout_projects: pd.DataFrame,
    training_dataset: pd.DataFrame,
    model_registry: ModelRegistryResource,
    policy: PromotionPolicy,
    reports: ReportStore,
    mlflow: dg.ResourceParam[Any],
):
    evaluation = steps.evaluate_against_champion(
        challenger_model,
        holdout_projects,
        model_registry.registry,
        policy,
        mlflow,
        reports.write,
        recent=training_dataset[training_dataset["split"] == RECENT_EVAL].drop(columns=["split"]),
    )
    yield dg.Output(
        evaluation.record, output_name="model_evaluation", metadata=evaluation_metadata(evaluation)
    )
    if evaluation.regression_report is not None:
        yield dg.Output(
            evaluation.regression_report,
            output_name="regression_report",
            metadata={
                "challenger_version": evaluation.record["version"],
                "reasons": "; ".join(evaluation.record["decision"]["reasons"]),
            },
        )


@dg.asset_check(asset="model_evaluation", blocking=True)
def challenger_beats_champion(model_evaluation: dict) -> dg.AssetCheckResult:
    """The improved/regressed branch: promotion downstream runs only when this passes."""
    decision = model_evaluation["decision"]
    return dg.AssetCheckResult(
        passed=decision["promote"],
        description="; ".join(decision["reasons"]),
        metadata={
            "challenger_version": model_evaluation["version"],
            "champion_version": model_evaluation["champion_version"],
            "deltas": dg.MetadataValue.json(decision["deltas"]),
        },
    )


class ChampionConfig(dg.Config):
    """``promote`` the evaluated challenger (the default, behind the gate), ``rollback`` to the
    version the champion replaced (or to ``version``), or ``pin`` ``version``; ``reasons`` say why."""

    action: Literal["promote", "rollback", "pin"] = "promote"
    version: int | None = None
    reasons: list[str] = []


@dg.asset(
    group_name=MLOPS,
    io_manager_key=DOCUMENTS,
    kinds={"mlflow"},
    code_version=source_version("tagifai_platform.mlops.steps", "tagifai_platform.registry"),
)
def champion_model(
    context: dg.AssetExecutionContext,
    config: ChampionConfig,
    model_evaluation: dict,
    model_registry: ModelRegistryResource,
) -> dg.Output[dict]:
    """The model in service: every change of the ``champion`` alias is a materialization of this asset.

    A promotion moves it to the challenger that passed the gate; a rollback or a pin (the policy
    engine's or a person's) moves it to an earlier version and ignores the evaluation. The record
    names the version's training set and run, so the catalog leads to what the serving model
    learned from.
    """
    registry = model_registry.registry
    if config.action == "promote":
        if not model_evaluation["decision"]["promote"]:  # run on its own, without the gate's check
            raise dg.Failure(
                f"The latest evaluation refused v{model_evaluation['version']}: "
                f"{'; '.join(model_evaluation['decision']['reasons'])}. The champion stays as it is."
            )
        record = steps.promote(model_evaluation, registry, context.run.run_id, config.reasons)
    else:
        try:
            record = steps.change_champion(
                registry, config.action, config.version, config.reasons, context.run.run_id
            )
        except steps.ChampionChangeRefused as refused:
            raise dg.Failure(f"{refused} The champion stays as it is.") from refused
    context.log.info(f"champion: {record['action']} v{record['previous_version']} -> v{record['version']}")
    return dg.Output(
        record,
        data_version=dg.DataVersion(f"v{record['version']}"),
        metadata={
            "action": record["action"],
            "version": record["version"],
            "previous_version": record["previous_version"],
            "holdout_f1": (record["metrics_after"] or {}).get("f1"),
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in record["reasons"]) or "-"),
            "training_dataset_version": record["training_dataset_version"],
            "trained_in_run": record["trained_in_run"],
        },
    )
