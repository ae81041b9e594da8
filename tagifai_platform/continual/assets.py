"""Monitoring assets: the champion's recent predictions against its training reference.

The checks on ``monitoring_report`` fail when a family of signals crosses its threshold; they do
not block anything (the report is the evidence), and a failure is what starts the policy engine.
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from tagifai_platform.continual.resources import MonitoringPolicy, PredictionLogReader
from tagifai_platform.io_managers import WarehouseResource
from tagifai_platform.registry import CALIBRATOR, REFERENCE, ModelRegistry
from tagifai_platform.shared import (
    DOCUMENTS,
    MONITORING,
    LabelingDesk,
    ModelRegistryResource,
    ReportStore,
    batches,
)
from tagifai_platform.version import source_version

CHECKED_FAMILIES = {
    "input_drift": "input",
    "prediction_drift": "prediction",
    "confidence_drift": "confidence",
    "estimated_performance": "estimated_performance",
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
        "matured_rows": report.performance.matured_rows,
        "estimate_error": report.performance.estimate_error,
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
    if report.estimated is not None:
        estimated = report.estimated
        figures |= {
            "estimated_f1": estimated.f1,
            "estimated_f1_interval": dg.MetadataValue.json([estimated.low, estimated.high]),
            "reference_estimated_f1": estimated.reference_f1,
        }
    return figures


@dataclass(frozen=True)
class Observation:
    """A monitoring of the champion's traffic: the report, and what it was computed from."""

    champion_version: int
    generated_at: datetime
    report: object  # monitoring.drift.MonitoringReport
    reference: object  # monitoring.drift.Reference
    window: pd.DataFrame

    def to_dict(self) -> dict:
        return {
            "champion_version": self.champion_version,
            "generated_at": self.generated_at.isoformat(),
            "report": self.report.to_dict(),
        }


def observe(
    champion_version: int,
    registry: ModelRegistry,
    predictions: PredictionLogReader,
    monitoring: MonitoringPolicy,
    labels: pd.DataFrame,
) -> Observation:
    """The champion's recent traffic against the baseline logged with that version.

    Live performance uses the true tags (``labels``: ``text``, ``tag``) of served texts that have
    since arrived, in labeled batches or annotated files, on requests one label delay older than
    the window (``MonitoringPolicy.since``); the label-free estimate covers the window itself.
    """
    from tagifai_platform.monitoring.drift import Reference, monitor
    from tagifai_platform.monitoring.estimation import Calibrator

    version = registry.get(champion_version)
    reference, calibrator = registry.document(version, REFERENCE), registry.document(version, CALIBRATOR)
    if reference is None or calibrator is None:
        raise dg.Failure(
            f"v{champion_version} was registered without its monitoring reference and calibrator (models "
            "logged before they were kept): promote a model trained since, or roll back to one."
        )
    now = datetime.now(UTC)
    window_start, labels_start = monitoring.since(now)
    served = predictions.read(since=labels_start)
    served = served[served["model_version"] == champion_version]
    window = served[served["logged_at"] >= window_start]
    reference = Reference.from_dict(reference)
    report = monitor(
        reference,
        window,
        monitoring.thresholds(),
        labels=labels,
        now=now,
        labeled_window=served,
        estimator=Calibrator.from_dict(calibrator).estimate,
        period=(window_start, now),
    )
    return Observation(champion_version, now, report, reference, window)


@dg.asset(
    group_name=MONITORING,
    io_manager_key=DOCUMENTS,
    kinds={"scipy"},
    code_version=source_version(
        "tagifai_platform.monitoring.drift", "tagifai_platform.monitoring.estimation"
    ),
)
def monitoring_report(
    context: dg.AssetExecutionContext,
    champion_model: dict,
    labeled_projects: pd.DataFrame,
    predictions: PredictionLogReader,
    model_registry: ModelRegistryResource,
    monitoring: MonitoringPolicy,
    reports: ReportStore,
    warehouse: WarehouseResource,
    labeling: LabelingDesk,
) -> dg.Output[dict]:
    """Input, prediction and confidence drift, the label-free performance estimate and live
    performance of the serving version's traffic, judged against that version's own baseline
    (logged with it when it was trained)."""
    from tagifai_platform.monitoring.drift import drift_plots

    observation = observe(
        champion_model["version"],
        model_registry.registry,
        predictions,
        monitoring,
        labeling.true_tags(labeled_projects),
    )
    picture = drift_plots(observation.reference, observation.window)
    path = reports.write(f"monitoring/drift_{observation.generated_at:%Y%m%dT%H%M%S}.png", picture)
    return dg.Output(
        observation.to_dict(),
        metadata={
            **report_metadata(observation.report, picture),
            "champion_version": observation.champion_version,
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
