"""Monitoring assets: the champion's recent predictions against its training reference.

The checks on ``monitoring_report`` fail when a family of signals crosses its threshold; they do
not block anything (the report is the evidence), and a failure is what starts the policy engine.
"""

import base64
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from tagifai_platform.continual.resources import MonitoringPolicy, PredictionLogReader
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.mlops.resources import ModelRegistryResource, ReportStore
from tagifai_platform.mlops.steps import splits_of
from tagifai_platform.mlops.training import DOCUMENTS
from tagifai_platform.registry import CHAMPION

GROUP = "monitoring"
CHECKED_FAMILIES = {
    "input_drift": "input",
    "prediction_drift": "prediction",
    "confidence_drift": "confidence",
    "live_performance": "performance",
}


def report_metadata(report, picture: bytes) -> dict:
    image = base64.b64encode(picture).decode()
    figures = {
        "window_size": report.window_size,
        "enough_data": report.enough_data,
        "alerts": dg.MetadataValue.md(
            "\n".join(f"- **{a.family}** {a.message}" for a in report.alerts) or "none"
        ),
        "live_f1": report.performance.f1,
        "labeled_rows": report.performance.labeled_rows,
        "drift_plots": dg.MetadataValue.md(f"![drift](data:image/png;base64,{image})"),
    }
    if report.input is not None:
        figures |= {
            "length_p_value": report.input.length_p_value,
            "oov_rate": report.input.oov_rate,
            "reference_oov_rate": report.input.reference_oov_rate,
            "class_mix_js_distance": report.prediction.js_distance,
            "mean_confidence": report.confidence.mean_confidence,
        }
    return figures


@dg.asset(group_name=GROUP, io_manager_key=DOCUMENTS, kinds={"scipy"}, deps=[dg.AssetKey("champion_model")])
def monitoring_report(
    context: dg.AssetExecutionContext,
    training_dataset: pd.DataFrame,
    labeled_projects: pd.DataFrame,
    predictions: PredictionLogReader,
    model_registry: ModelRegistryResource,
    monitoring: MonitoringPolicy,
    reports: ReportStore,
    warehouse: WarehouseResource,
) -> dg.Output[dict]:
    """Input, prediction and confidence drift and live performance of the champion's recent traffic.

    Live performance uses the true tags of served texts that have since arrived in labeled batches.
    """
    from tagifai_platform.monitoring.drift import build_reference, drift_plots, monitor

    registry = model_registry.registry
    champion = registry.by_alias(CHAMPION)
    if champion is None:
        raise dg.Failure("No champion in service to monitor: run the end_to_end job first.")
    model = registry.load(champion)
    splits = splits_of(training_dataset)
    reference = build_reference(splits.train, splits.test, model, model_version=str(champion.version))
    now = datetime.now(UTC)
    window = predictions.read(since=now - timedelta(hours=monitoring.window_hours))
    window = window[window["model_version"] == champion.version]
    labels = labeled_projects[["text", "tag"]].drop_duplicates(subset=["text"], keep="last")
    report = monitor(reference, window, monitoring.thresholds(), labels=labels)
    picture = drift_plots(reference, window)
    path = reports.write(f"monitoring/drift_{now:%Y%m%dT%H%M%S}.png", picture)
    return dg.Output(
        {"champion_version": champion.version, "generated_at": now.isoformat(), "report": report.to_dict()},
        metadata={
            **report_metadata(report, picture),
            "champion_version": champion.version,
            "drift_plots_path": dg.MetadataValue.path(str(path)),
            "labels_from_batches": dg.MetadataValue.json(
                warehouse.partition_report(
                    "labeled_projects", context.instance.get_dynamic_partitions(batches.name)
                )
            ),
        },
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset="monitoring_report", description=f"No {family} alert.")
        for name, family in CHECKED_FAMILIES.items()
    ],
)
def monitoring_thresholds(monitoring_report: dict):
    """One check per family of signals, failing when any of its metrics crossed its threshold."""
    alerts = monitoring_report["report"]["alerts"]
    for name, family in CHECKED_FAMILIES.items():
        raised = [alert for alert in alerts if alert["family"] == family]
        yield dg.AssetCheckResult(
            check_name=name,
            passed=not raised,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(alert["message"] for alert in raised) or f"no {family} alert",
            metadata={"alerts": len(raised)},
        )
