"""The policy engine, as in the lesson: monitoring >> update_policy_engine >> [continue, inspect,
improve, rollback], and improve >> compose_retraining_dataset >> retrain.

``update_policy_engine`` has one optional output per action and yields only the chosen one, so
only that branch runs and the run shows which and why. A retrain goes through the same tuning,
training and gate as the MLOps assets (``mlops.steps``): it is promoted only if it wins.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from tagifai_platform.continual.resources import (
    DecisionLog,
    LabelingDesk,
    MonitoringPolicy,
    PredictionLogReader,
    StoredRecords,
)
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.mlops import steps
from tagifai_platform.mlops.evaluation import gate_policy
from tagifai_platform.mlops.resources import (
    ModelRegistryResource,
    PromotionPolicy,
    ReportStore,
    TuningStudies,
)
from tagifai_platform.mlops.training import DOCUMENTS, STUDY_NAME
from tagifai_platform.registry import CHAMPION, ModelRegistry

# "continue" is a Python keyword, which Dagster refuses as a name.
BRANCHES = {
    "continue": "continue_monitoring",
    "inspect": "inspect",
    "improve": "improve",
    "rollback": "rollback",
}
LABELING_BATCH = 50
RETRAIN_SEED = 4321


def champion_context(registry: ModelRegistry, records: list[dict]) -> dict:
    """The champion and its predecessor as the promotion log knows them (for the rollback rule)."""
    champion = registry.by_alias(CHAMPION)
    if champion is None:
        raise dg.Failure("No champion in service: nothing to decide about.")
    previous = (champion.promotion or {}).get("previous_version")
    previous_holdout = registry.get(previous).holdout_metrics if previous else None
    live = [
        r["live_f1"] for r in records if r["model_version"] == str(previous) and r.get("live_f1") is not None
    ]
    return {
        "version": str(champion.version),
        "previous_version": str(previous) if previous else None,
        "previous_holdout_f1": previous_holdout["f1"] if previous_holdout else None,
        "previous_live_f1": live[-1] if live else None,
    }


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def monitoring(
    records: StoredRecords, model_registry: ModelRegistryResource, decision_log: DecisionLog
) -> dict:
    """The latest monitoring report, with the champion's lineage the rollback rule needs."""
    report = records.document("monitoring_report")
    return {
        "report": report["report"],
        "champion": champion_context(model_registry.registry, decision_log.records()),
    }


@dg.op(
    out={branch: dg.Out(dict, is_required=False, io_manager_key=DOCUMENTS) for branch in BRANCHES.values()}
)
def update_policy_engine(
    context: dg.OpExecutionContext, observation: dict, decision_log: DecisionLog, monitoring: MonitoringPolicy
):
    """Decide, remember the decision, and take exactly one branch."""
    from tagifai_platform.monitoring.drift import MonitoringReport
    from tagifai_platform.monitoring.policy import ChampionContext, decide

    report = MonitoringReport.from_dict(observation["report"])
    decision = decide(
        report,
        decision_log.decisions(),
        now=datetime.now(UTC),
        champion=ChampionContext(**observation["champion"]),
        settings=monitoring.policy(),
    )
    record = {**decision.to_dict(), "live_f1": report.performance.f1, "dagster_run_id": context.run_id}
    decision_log.append(record)
    context.log.info(f"Policy engine chose {decision.action}: {'; '.join(decision.reasons)}")
    yield dg.Output(
        record,
        output_name=BRANCHES[str(decision.action)],
        metadata={
            "action": str(decision.action),
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
        },
    )


@dg.op
def continue_monitoring(context: dg.OpExecutionContext, decision: dict) -> None:
    """Nothing to do: the alert (if any) is acknowledged in the run and the decision log."""
    context.log.info(f"Acknowledged: {'; '.join(decision['reasons'])}")


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def inspect(
    context: dg.OpExecutionContext,
    decision: dict,
    predictions: PredictionLogReader,
    monitoring: MonitoringPolicy,
    labeling: LabelingDesk,
    reports: ReportStore,
) -> dict:
    """A report for a person, and the least confident recent predictions queued for annotation."""
    from tagifai_platform.monitoring.labeling import labeling_queue

    window = predictions.read(since=datetime.now(UTC) - timedelta(hours=monitoring.window_hours))
    annotated = labeling.annotated()
    queue = labeling_queue(window, LABELING_BATCH, exclude_texts=annotated["text"])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    queue_path = labeling.send(queue, f"queue-{stamp}")
    report = "\n".join(
        [
            f"# Inspection {stamp}",
            "",
            "Why:",
            *[f"- {r}" for r in decision["reasons"]],
            "",
            f"{len(queue)} low-confidence requests queued for labeling: `{queue_path}`.",
            "",
            queue.head(10).to_markdown(index=False),
        ]
    )
    report_path = reports.write(f"inspection/inspection-{stamp}.md", report)
    context.add_output_metadata(
        {
            "queue": dg.MetadataValue.path(str(queue_path)),
            "queued": len(queue),
            "report": dg.MetadataValue.path(str(report_path)),
        }
    )
    return {"queue": str(queue_path), "report": str(report_path), "queued": len(queue)}


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def rollback(context: dg.OpExecutionContext, decision: dict, model_registry: ModelRegistryResource) -> dict:
    """Move ``champion`` back to the previously promoted version, recorded like a promotion."""
    registry = model_registry.registry
    current = registry.by_alias(CHAMPION)
    target = int(decision["target_version"])
    moved = registry.move_champion(
        target,
        {
            "action": "rollback",
            "dagster_run_id": context.run_id,
            "reasons": decision["reasons"],
            "metrics_before": {"live_f1": decision["live_f1"], "version": current.version},
            "metrics_after": registry.get(target).holdout_metrics,
        },
    )
    context.log.info(f"Rolled back champion from v{current.version} to v{moved.version}")
    return {"version": moved.version, **moved.promotion}


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def improve(context: dg.OpExecutionContext, decision: dict) -> dict:
    """Start a retraining: the reasons travel with it into the composed dataset's record."""
    context.log.info(f"Retraining because: {'; '.join(decision['reasons'])}")
    return decision


@dg.op(out=dg.Out(pd.DataFrame))
def compose_retraining_dataset(
    context: dg.OpExecutionContext, request: dict, warehouse: WarehouseResource, labeling: LabelingDesk
) -> pd.DataFrame:
    """The champion's training data kept, new labels (batches and annotations) added, QA'd, rebalanced.

    Only published batches are read, and the holdout is kept out by id and by text.
    """
    from tagifai_platform.data.transform import label_holdout, union_batches
    from tagifai_platform.monitoring.labeling import annotations_as_labeled
    from tagifai_platform.monitoring.retraining import assign_splits
    from tagifai_platform.monitoring.retraining import compose_retraining_dataset as compose

    labeled_projects = warehouse.table("labeled_projects")
    training_dataset = warehouse.table("training_dataset")
    holdout = label_holdout(warehouse.table("holdout_projects"))
    union = union_batches(labeled_projects, warehouse.publication_order("labeled_projects"))
    trained_on = union["id"].isin(training_dataset["id"])
    arrived = union[~trained_on]
    new_labeled = pd.concat([arrived, annotations_as_labeled(labeling.annotated())], ignore_index=True)
    dataset, report = compose(union[trained_on], new_labeled, seed=RETRAIN_SEED, holdout=holdout)
    dataset = assign_splits(dataset, seed=RETRAIN_SEED)
    batches_read = warehouse.partition_report(
        "labeled_projects", context.instance.get_dynamic_partitions(batches.name)
    )
    context.add_output_metadata(
        {
            "composition": dg.MetadataValue.json(report),
            "rows": len(dataset),
            "reasons": "; ".join(request["reasons"]),
            "batches": dg.MetadataValue.json(batches_read),
        }
    )
    return dataset


class RetrainConfig(dg.Config):
    n_trials: int | None = None  # None: TAGIFAI_TUNING_TRIALS


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def retrain(
    context: dg.OpExecutionContext,
    config: RetrainConfig,
    dataset: pd.DataFrame,
    warehouse: WarehouseResource,
    studies: TuningStudies,
    model_registry: ModelRegistryResource,
    policy: PromotionPolicy,
    reports: ReportStore,
    mlflow: dg.ResourceParam[Any],
) -> dict:
    """Tune, train and gate on the composed dataset exactly as the MLOps assets do; promote only a winner."""
    from tagifai_platform.data.transform import holdout_overlap, label_holdout

    registry = model_registry.registry
    holdout_projects = warehouse.table("holdout_projects")
    training = dataset[dataset["split"].isin(["train", "validation", "test"])]
    leaked = holdout_overlap(training, label_holdout(holdout_projects))
    if len(leaked):  # the second line of defence: compose removes them, this refuses to train on any
        raise dg.Failure(
            f"The retraining set holds {len(leaked)} holdout projects: {leaked['id'].head(10).tolist()}"
        )
    tuned = steps.tune(studies.study(STUDY_NAME), training, config.n_trials or studies.trials, mlflow)
    challenger = steps.train_and_register(training, tuned["params"], registry, mlflow, context.run_id)
    evaluation = steps.evaluate_against_champion(
        challenger, holdout_projects, registry, gate_policy(policy), mlflow, reports.write
    )
    outcome = {"version": challenger["version"], "decision": evaluation.record["decision"]}
    recent = dataset[dataset["split"] == "recent_eval"]
    if len(recent):  # the newest labels, kept out of training: how the retrain does on today's data
        from tagifai_platform.ml.evaluation import evaluate

        outcome["recent_eval"] = evaluate(registry.load(registry.get(challenger["version"])), recent)[
            "overall"
        ]
    if evaluation.promote:
        outcome["promotion"] = steps.promote(evaluation.record, registry, context.run_id)
    else:
        path = reports.write(
            f"regression/regression_report_v{challenger['version']}.md", evaluation.regression_report
        )
        outcome["regression_report"] = str(path)
    context.add_output_metadata(
        {
            "challenger_version": challenger["version"],
            "promoted": evaluation.promote,
            "reasons": "; ".join(evaluation.record["decision"]["reasons"]),
        }
    )
    return outcome


@dg.job(description="Decide on the latest monitoring report: continue, inspect, improve or roll back.")
def policy_engine():
    chosen = update_policy_engine(monitoring())._asdict()
    continue_monitoring(chosen["continue_monitoring"])
    inspect(chosen["inspect"])
    rollback(chosen["rollback"])
    retrain(compose_retraining_dataset(improve(chosen["improve"])))
