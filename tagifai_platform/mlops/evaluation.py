"""Evaluation and the champion/challenger gate.

``evaluate_challenger`` scores the challenger (and the champion, on the same holdout) and decides;
the blocking check ``challenger_beats_champion`` turns that decision into the gate, so
``champion_model`` only runs when the challenger wins. When it loses, the same step emits the
optional ``regression_report`` instead, and the champion stays exactly as it was.
"""

import base64
from typing import Any

import dagster as dg
import pandas as pd

from tagifai_platform.mlops import steps
from tagifai_platform.mlops.features import GROUP
from tagifai_platform.mlops.resources import ModelRegistryResource, PromotionPolicy, ReportStore
from tagifai_platform.mlops.training import DOCUMENTS


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
        "champion_holdout_f1": champion["overall"]["f1"] if champion else None,
        "promote": evaluation.promote,
        "per_class": dg.MetadataValue.md(per_class.round(4).to_markdown()),
        "behavioural_tests": dg.MetadataValue.json(
            {key: value for key, value in record["behavioural"].items() if key != "failures"}
        ),
        "confusion_matrix": dg.MetadataValue.md(f"![confusion matrix](data:image/png;base64,{image})"),
        "confusion_matrix_path": dg.MetadataValue.path(str(evaluation.picture_path)),
    }


def gate_policy(policy: PromotionPolicy) -> steps.GatePolicy:
    return steps.GatePolicy(policy.margin, policy.slice_tolerance, policy.quality_floor)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "model_evaluation": dg.AssetOut(
            io_manager_key=DOCUMENTS,
            kinds={"sklearn", "mlflow"},
            description="The challenger's scores (and the champion's on the same holdout), and the decision.",
        ),
        "regression_report": dg.AssetOut(
            io_manager_key=DOCUMENTS,
            is_required=False,
            kinds={"markdown"},
            description="Why a challenger was refused, with the deltas; only made when it was.",
        ),
    },
)
def evaluate_challenger(
    challenger_model: dict,
    holdout_projects: pd.DataFrame,
    model_registry: ModelRegistryResource,
    policy: PromotionPolicy,
    reports: ReportStore,
    mlflow: dg.ResourceParam[Any],
):
    evaluation = steps.evaluate_against_champion(
        challenger_model,
        holdout_projects,
        model_registry.registry,
        gate_policy(policy),
        mlflow,
        reports.write,
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


@dg.asset(group_name=GROUP, io_manager_key=DOCUMENTS, kinds={"mlflow"})
def champion_model(
    context: dg.AssetExecutionContext, model_evaluation: dict, model_registry: ModelRegistryResource
) -> dg.Output[dict]:
    """The model in service: ``champion`` moved to the winning challenger, with a record to undo it."""
    record = steps.promote(model_evaluation, model_registry.registry, context.run_id)
    return dg.Output(
        record,
        metadata={
            "version": record["version"],
            "previous_version": record["previous_version"],
            "holdout_f1": record["metrics_after"]["f1"],
        },
    )
