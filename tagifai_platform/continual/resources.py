"""Resources of the continual-learning domain: the prediction log, thresholds, decisions, labeling."""

import json
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from tagifai_platform.io_managers import document_path


class StoredRecords(dg.ConfigurableResource):
    """Read access to document assets for the policy engine's ops, which are not assets themselves."""

    documents: str

    def document(self, name: str, run_id: str | None = None) -> dict:
        """The latest value of the asset ``name``, or the one the run ``run_id`` wrote."""
        path = document_path(self.documents, name, run_id)
        if not path.exists():
            written = f" by run {run_id}" if run_id else ""
            raise dg.Failure(f"{name} has not been materialized{written} ({path}).")
        return json.loads(path.read_text())


class PredictionLogReader(dg.ConfigurableResource):
    """The prediction service's append-only log, read-only."""

    path: str

    def read(self, since=None) -> pd.DataFrame:
        from tagifai_platform.serving.prediction_log import read_predictions

        return read_predictions(Path(self.path), since=since)


class MonitoringPolicy(dg.ConfigurableResource):
    """The window watched, what counts as evidence, and how long drift must last before it acts.

    The values come from the settings; the rest of the thresholds and the cooldowns are the
    defaults of ``MonitoringThresholds`` and ``PolicySettings``.
    """

    window_hours: float
    min_window_size: int
    min_labeled_rows: int
    label_delay_hours: float
    estimated_f1_drop: float
    drift_persistence: int

    def since(self, now: datetime) -> tuple[datetime, datetime]:
        """Where the window starts, and where the requests whose labels count start: one label
        delay earlier, so a window's worth of requests is old enough to have its labels."""
        start = now - timedelta(hours=self.window_hours)
        return start, start - timedelta(hours=self.label_delay_hours)

    # The monitoring core imports scipy and sklearn (seconds); every step process loads this module.
    def thresholds(self):
        from tagifai_platform.monitoring.drift import MonitoringThresholds

        return MonitoringThresholds(
            min_window_size=self.min_window_size,
            min_labeled_rows=self.min_labeled_rows,
            label_delay_hours=self.label_delay_hours,
            estimated_f1_drop=self.estimated_f1_drop,
        )

    def policy(self):
        from tagifai_platform.monitoring.policy import PolicySettings

        return PolicySettings(drift_persistence=self.drift_persistence)


class DecisionLog(dg.ConfigurableResource):
    """Every policy decision, appended as a JSON line: the engine's memory for its cooldowns."""

    path: str

    def records(self) -> list[dict]:
        path = Path(self.path)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def decisions(self) -> list:
        from tagifai_platform.monitoring.policy import PolicyDecision

        return [PolicyDecision.from_dict(record) for record in self.records()]

    def append(self, record: dict) -> None:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as log:
            log.write(json.dumps(record, sort_keys=True, default=str) + "\n")
