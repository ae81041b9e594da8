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

from tagifai_platform.data.transform import label_holdout
from tagifai_platform.mlops.features import GROUP
from tagifai_platform.mlops.resources import ModelRegistryResource, PromotionPolicy, ReportStore, mlflow_step
from tagifai_platform.mlops.training import DOCUMENTS
from tagifai_platform.registry import CHAMPION, HOLDOUT_METRICS_TAG


def _table(rows: dict[str, dict], columns: list[str]) -> str:
    frame = pd.DataFrame.from_dict(rows, orient="index")[columns].round(4)
    return frame.to_markdown()


@dg.multi_asset(
    group_name=GROUP,
    outs={
        "model_evaluation": dg.AssetOut(
            io_manager_key=DOCUMENTS,
            kinds={"sklearn", "mlflow"},
            description="The challenger's scores, and the gate's decision.",
        ),
        "regression_report": dg.AssetOut(
            io_manager_key=DOCUMENTS,
            is_required=False,
            kinds={"markdown"},
            description="Why a challenger was refused, with the deltas.",
        ),
    },
)
def evaluate_challenger(
    context: dg.AssetExecutionContext,
    challenger_model: dict,
    training_dataset: pd.DataFrame,
    holdout_projects: pd.DataFrame,
    model_registry: ModelRegistryResource,
    policy: PromotionPolicy,
    reports: ReportStore,
    mlflow: dg.ResourceParam[Any],
):
    from tagifai_platform.ml.evaluation import behavioural_tests, confusion_matrix_png, evaluate
    from tagifai_platform.ml.gate import decide_promotion, regression_report_markdown

    registry = model_registry.registry
    challenger = registry.get(challenger_model["version"])
    model = registry.load(challenger)
    holdout = label_holdout(holdout_projects)
    test = training_dataset[training_dataset["split"] == "test"]

    scores = {"test": evaluate(model, test), "holdout": evaluate(model, holdout)}
    behaviour = behavioural_tests(model)
    champion = registry.by_alias(CHAMPION)
    champion_scores = evaluate(registry.load(champion), holdout) if champion else None
    decision = decide_promotion(
        scores["holdout"],
        champion_scores,
        margin=policy.margin,
        slice_tolerance=policy.slice_tolerance,
        quality_floor=policy.quality_floor,
    )

    holdout_overall = scores["holdout"]["overall"]
    registry.set_tags(challenger.version, {HOLDOUT_METRICS_TAG: holdout_overall})
    picture = confusion_matrix_png(scores["holdout"])
    picture_path = reports.write(f"confusion_matrix_v{challenger.version}.png", picture)
    with mlflow_step(mlflow):
        mlflow.log_metrics(
            {
                f"{split}_{key}": value
                for split, result in scores.items()
                for key, value in result["overall"].items()
                if isinstance(value, float)
            }
        )
        mlflow.log_artifact(str(picture_path))

    evaluation = {
        "version": challenger.version,
        "champion_version": champion.version if champion else None,
        "scores": scores,
        "champion_holdout": champion_scores,
        "behavioural": behaviour,
        "decision": decision.as_dict(),
    }
    image = base64.b64encode(picture).decode()
    yield dg.Output(
        evaluation,
        output_name="model_evaluation",
        metadata={
            "holdout_f1": holdout_overall["f1"],
            "test_f1": scores["test"]["overall"]["f1"],
            "champion_holdout_f1": champion_scores["overall"]["f1"] if champion_scores else None,
            "promote": decision.promote,
            "per_class": dg.MetadataValue.md(
                _table(scores["holdout"]["per_class"], ["precision", "recall", "f1", "support"])
            ),
            "behavioural_tests": dg.MetadataValue.json(
                {k: v for k, v in behaviour.items() if k != "failures"}
            ),
            "confusion_matrix": dg.MetadataValue.md(f"![confusion matrix](data:image/png;base64,{image})"),
            "confusion_matrix_path": dg.MetadataValue.path(str(picture_path)),
        },
    )
    if not decision.promote:
        report = regression_report_markdown(decision, scores["holdout"], champion_scores)
        yield dg.Output(
            report,
            output_name="regression_report",
            metadata={"challenger_version": challenger.version, "reasons": decision.reasons},
        )


@dg.asset_check(asset="model_evaluation", blocking=True)
def challenger_beats_champion(model_evaluation: dict) -> dg.AssetCheckResult:
    """The improved/regressed branch: downstream promotion runs only when this passes."""
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
    before = model_evaluation["champion_holdout"]
    after = model_evaluation["scores"]["holdout"]
    promoted = model_registry.registry.move_champion(
        model_evaluation["version"],
        {
            "action": "promote",
            "dagster_run_id": context.run_id,
            "metrics_before": before["overall"] if before else None,
            "metrics_after": after["overall"],
        },
    )
    record = {"version": promoted.version, **promoted.promotion}
    return dg.Output(
        record,
        metadata={
            "version": promoted.version,
            "previous_version": record["previous_version"],
            "holdout_f1": after["overall"]["f1"],
        },
    )
