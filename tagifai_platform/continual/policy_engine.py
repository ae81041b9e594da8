"""The policy engine, as in the lesson: monitoring >> update_policy_engine >> [continue, inspect,
improve, rollback].

``update_policy_engine`` has one optional output per action and yields only the chosen one, so
only that branch runs and the run shows which and why. The engine decides; it changes nothing about
the model itself. ``improve`` and ``rollback`` each end in a request for a run of the model's own
assets (``retrain``: the composed training set, tuning, challenger, evaluation, gate and champion;
``set_champion``: the champion), which the ``policy_actions`` sensor launches. So every change to the
model in service is a materialization with the same code, gate and lineage as ``make run``'s, and
the catalog stays true after the loop acts.
"""

from datetime import UTC, datetime

import dagster as dg

from tagifai_platform.continual.assets import observe
from tagifai_platform.continual.resources import (
    DecisionLog,
    MonitoringPolicy,
    PredictionLogReader,
    StoredRecords,
)
from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.registry import ModelRegistry
from tagifai_platform.shared import DOCUMENTS, LabelingDesk, ModelRegistryResource, ReportStore

# "continue" is a Python keyword, which Dagster refuses as a name.
BRANCHES = {
    "continue": "continue_monitoring",
    "inspect": "inspect",
    "improve": "improve",
    "rollback": "rollback",
}
LABELING_BATCH = 50
# The output metadata entry the policy_actions sensor turns into a run: {"job", "run_config"}.
RUN_REQUEST = "run_request"


def champion_context(
    registry: ModelRegistry, version: int, records: list[dict], instance: dg.DagsterInstance
) -> dict:
    """The champion and its predecessor as the promotion log knows them (for the rollback rule).

    The predecessor's live F1 is the last one the engine measured while it served, with the labels
    it stood on. A champion promoted by a ``retrain`` run was asked for because the traffic or the
    labels had moved: its predecessor's live F1 from before is no baseline for it.
    """
    champion = registry.get(version)
    promotion = champion.promotion or {}
    promoted_in = (
        instance.get_run_by_id(promotion["dagster_run_id"]) if promotion.get("dagster_run_id") else None
    )
    previous = promotion.get("previous_version")
    previous_holdout = registry.get(previous).holdout_metrics if previous else None
    live = [r for r in records if r["model_version"] == str(previous) and r.get("live_f1") is not None]
    return {
        "version": str(champion.version),
        "previous_version": str(previous) if previous else None,
        "previous_holdout_f1": previous_holdout["f1"] if previous_holdout else None,
        "previous_live_f1": live[-1]["live_f1"] if live else None,
        "previous_live_labels": live[-1].get("live_labels") if live else None,
        "after_drift_retrain": promotion.get("action") == "promote"
        and promoted_in is not None
        and promoted_in.job_name == "retrain",
    }


class MonitoringConfig(dg.Config):
    """``report_run_id``: decide on the report that run wrote (the alert sensor sets it); without
    it, the engine monitors the champion's traffic now."""

    report_run_id: str | None = None


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def monitoring(
    context: dg.OpExecutionContext,
    config: MonitoringConfig,
    records: StoredRecords,
    predictions: PredictionLogReader,
    monitoring: MonitoringPolicy,
    model_registry: ModelRegistryResource,
    warehouse: WarehouseResource,
    decision_log: DecisionLog,
    labeling: LabelingDesk,
) -> dict:
    """The report to decide on, with the champion's lineage the rollback rule needs."""
    registry = model_registry.registry
    champion = records.document("champion_model")["version"]
    stored = records.document("monitoring_report", config.report_run_id) if config.report_run_id else None
    if stored is not None and stored["champion_version"] == champion:
        report, source = stored["report"], f"monitoring run {config.report_run_id}"
    else:
        if stored is not None:
            context.log.info(
                f"The alert of run {config.report_run_id} was about v{stored['champion_version']}; "
                f"v{champion} serves now, so its traffic is monitored afresh."
            )
        observation = observe(
            champion,
            registry,
            predictions,
            monitoring,
            labeling.true_tags(warehouse.table("labeled_projects")),
        )
        report, source = (
            observation.report.to_dict(),
            f"monitored at {observation.generated_at:%Y-%m-%d %H:%M} UTC",
        )
    context.add_output_metadata({"report_from": source, "champion_version": champion})
    return {
        "report": report,
        "report_from": source,
        "champion": champion_context(registry, champion, decision_log.records(), context.instance),
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
    record = {
        **decision.to_dict(),
        "live_f1": report.performance.f1,
        "live_labels": report.performance.labeled_rows,
        "dagster_run_id": context.run_id,
    }
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

    window_start, _ = monitoring.since(datetime.now(UTC))
    window = predictions.read(since=window_start)
    queue = labeling_queue(window, LABELING_BATCH, exclude_texts=labeling.out_for_labeling())
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


def run_request(job: str, run_config: dict, decision: dict) -> dg.Output:
    request = {"job": job, "run_config": run_config, "decided_in": decision["dagster_run_id"]}
    return dg.Output(request, metadata={RUN_REQUEST: dg.MetadataValue.json(request)})


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def improve(context: dg.OpExecutionContext, decision: dict) -> dg.Output[dict]:
    """Ask for a retraining: the reasons travel into the composed training set and the champion."""
    context.log.info(f"Retraining requested because: {'; '.join(decision['reasons'])}")
    reasons = list(decision["reasons"])
    return run_request(
        "retrain",
        {
            "ops": {
                "training_dataset": {
                    "config": {
                        "retraining": True,
                        "reasons": reasons,
                        "changed_since": decision.get("changed_since"),
                    }
                },
                "champion_model": {"config": {"reasons": reasons}},
            }
        },
        decision,
    )


@dg.op(out=dg.Out(io_manager_key=DOCUMENTS))
def rollback(context: dg.OpExecutionContext, decision: dict) -> dg.Output[dict]:
    """Ask for the champion to move back to the version the decision names."""
    context.log.info(f"Rollback to v{decision['target_version']} requested: {'; '.join(decision['reasons'])}")
    config = {
        "action": "rollback",
        "version": int(decision["target_version"]),
        "reasons": decision["reasons"],
    }
    return run_request("set_champion", {"ops": {"champion_model": {"config": config}}}, decision)


@dg.job(description="Decide on a monitoring report: continue, inspect, or request a retraining or rollback.")
def policy_engine():
    chosen = update_policy_engine(monitoring())._asdict()
    continue_monitoring(chosen["continue_monitoring"])
    inspect(chosen["inspect"])
    rollback(chosen["rollback"])
    improve(chosen["improve"])
