"""A sudden shift through the real platform: the service, the monitor job, the alert sensor, the
policy engine, the action sensor and the runs it asks for, window by window.

The fast replay (``monitoring/replay.py``) proves the policy over hundreds of simulated days; this
one proves the wiring carries the same decisions. It runs on a temporary home and Dagster instance:
``end_to_end`` promotes a first champion, ``tagifai serve`` answers every request over HTTP, and each
window (``TAGIFAI_MONITORING_WINDOW_HOURS`` = 36 s of wall time, the smallest window) is monitored by the
``monitor`` job one window length after the last, so windows follow each other as the hourly schedule's
do. The sensors are evaluated after each run, as the daemon would on its next tick. Annotators label
60 % of each window's requests at once (an annotated file per window): real time cannot be fast-forwarded,
so the label delay is 0 here and is proven by the fast replay instead.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.metrics import f1_score

WINDOW_HOURS = 0.01  # the smallest window the settings allow: 36 s
FEW_TRIALS = {"best_hyperparameters": {"config": {"n_trials": 2}}}


def traffic(source: str, window: int, size: int, share: float) -> pd.DataFrame:
    """A window of requests recombined from the holdout projects (no model learns from them), a
    ``share`` of them rewritten into a new topic and tagged ``other``."""
    from tagifai_platform.data.synthetic import Shift, synthesize
    from tagifai_platform.data.transform import label_projects

    holdout = pd.read_csv(f"{source}/holdout.csv")
    projects = holdout[["id", "created_on", "title", "description"]].astype(str)
    tags = holdout[["id", "tag"]].astype(str)
    shift = Shift(rows=share, words=0.8, tag="other") if share > 0 else None
    batch = synthesize(projects, tags, size, seed=window, shift=shift, first_id=20_000_000 + window * size)
    return label_projects(batch.projects, batch.tags)


def serve(url: str, requests: pd.DataFrame) -> list[dict]:
    with httpx.Client(base_url=url, timeout=60) as client:
        answers = []
        for start in range(0, len(requests), 20):
            response = client.post(
                "/predict", json={"texts": requests["text"].iloc[start : start + 20].tolist()}
            )
            response.raise_for_status()
            body = response.json()
            answers.extend({**answer, "version": body["model_version"]} for answer in body["predictions"])
        return answers


def replay_through_service(
    source: str, *, windows: int = 8, shift_at: int = 3, size: int = 100
) -> dict[str, Any]:
    import dagster as dg

    from tagifai_platform.continual.triggers import failed_actions, monitoring_alerts, policy_actions
    from tagifai_platform.definitions import build_definitions
    from tagifai_platform.harness import Service, evaluate_run_status_sensor
    from tagifai_platform.resources import build_resources
    from tagifai_platform.settings import load_settings

    with (
        tempfile.TemporaryDirectory() as tmp,
        dg.instance_for_test(temp_dir=tmp) as instance,
    ):
        settings = load_settings(
            {
                "TAGIFAI_HOME": str(Path(tmp, "home")),
                "TAGIFAI_SOURCE": source,
                "TAGIFAI_TUNING_TRIALS": "2",
                "TAGIFAI_MONITORING_WINDOW_HOURS": str(WINDOW_HOURS),
                "TAGIFAI_LABEL_DELAY_HOURS": "0",
            }
        )
        definitions = build_definitions(settings)
        decision_log = build_resources(settings)["decision_log"]

        def run(job: str, run_config=None, tags=None) -> dg.ExecuteInProcessResult:
            return definitions.resolve_job_def(job).execute_in_process(
                instance=instance, run_config=run_config, tags=tags, raise_on_error=False
            )

        started = time.perf_counter()
        assert run("end_to_end", {"ops": FEW_TRIALS}).success, "end_to_end failed"
        setup_seconds = time.perf_counter() - started
        annotated = settings.home / "labeling" / "annotated"
        annotated.mkdir(parents=True)
        service = Service.start(settings, Path(tmp), TAGIFAI_SERVE_WORKERS="1")
        timeline = []
        monitored_at = time.monotonic()
        try:
            for window in range(windows):
                share = 0.5 if window >= shift_at else 0.0
                requests = traffic(source, window, size, share)
                answers = serve(service.url, requests)
                served = pd.DataFrame(answers).assign(truth=requests["tag"].to_numpy())
                # Annotators label 60 % of the window's requests.
                labeled = requests.sample(frac=0.6, random_state=window)
                pd.DataFrame(
                    {
                        "request_id": [f"w{window}-{i}" for i in labeled.index],
                        "logged_at": pd.Timestamp.now(tz="UTC").isoformat(),
                        "text": labeled["text"],
                        "tag": labeled["tag"],
                    }
                ).to_csv(annotated / f"window-{window:02d}.csv", index=False)
                entry = {"window": window, "share": share, "served_by": int(served["version"].iloc[0])}
                entry["oracle_f1"] = round(
                    float(f1_score(served["truth"], served["tag"], average="weighted", zero_division=0)), 4
                )
                # Monitor one window length after the last monitoring: the windows follow each other.
                time.sleep(max(0.0, monitored_at + WINDOW_HOURS * 3600 - time.monotonic()))
                monitored_at = time.monotonic()
                monitored = run("monitor")
                report = monitored.output_for_node("monitoring_report")["report"]
                entry["alerts"] = sorted({alert["family"] for alert in report["alerts"]})
                entry["estimated_f1"] = (report.get("estimated") or {}).get("f1")
                entry["action"] = entry["requested"] = None
                alert = evaluate_run_status_sensor(monitoring_alerts, instance, monitored.run_id)
                if isinstance(alert, dg.RunRequest):
                    engine = run("policy_engine", alert.run_config)
                    decided = engine.output_for_node("update_policy_engine", _chosen(engine))
                    entry["action"] = decided["action"]
                    request = evaluate_run_status_sensor(policy_actions, instance, engine.run_id)
                    if isinstance(request, dg.RunRequest):
                        config = request.run_config
                        if request.job_name == "retrain":
                            config = {"ops": {**config["ops"], **FEW_TRIALS}}
                        acted = run(request.job_name, config, request.tags)
                        trained = request.job_name == "retrain" and bool(
                            acted.asset_materializations_for_node("challenger_model")
                        )
                        entry["requested"] = {
                            "job": request.job_name,
                            "success": acted.success,
                            "trained": trained,
                        }
                        if not acted.success:
                            evaluate_run_status_sensor(
                                failed_actions, instance, acted.run_id, {"decision_log": decision_log}
                            )
                timeline.append(entry)
        finally:
            service.stop()
    return summarize(timeline, shift_at, setup_seconds, time.perf_counter() - started)


def _chosen(engine) -> str:
    """The branch the engine took: its op's name is also the output ``update_policy_engine`` yielded."""
    ran = {event.node_name for event in engine.all_events if event.is_step_success}
    (branch,) = ran - {"monitoring", "update_policy_engine"}
    return branch


def summarize(timeline: list[dict], shift_at: int, setup_seconds: float, seconds: float) -> dict[str, Any]:
    after = [entry for entry in timeline if entry["window"] >= shift_at]
    acted = [entry["window"] for entry in after if entry["action"] not in (None, "continue")]
    requests = [
        entry["requested"] for entry in timeline if (entry["requested"] or {}).get("job") == "retrain"
    ]
    served = [entry["served_by"] for entry in timeline]
    switched = next((e["window"] for e in after if e["served_by"] != served[0]), None)

    def mean(entries):
        return round(sum(e["oracle_f1"] for e in entries) / len(entries), 4) if entries else None

    return {
        "windows": len(timeline),
        "change_at": shift_at,
        "alerting_windows": sum(bool(entry["alerts"]) for entry in timeline),
        "windows_to_first_action": acted[0] - shift_at + 1 if acted else None,
        "retrain_requests": len(requests),
        "retrains": sum(request["trained"] for request in requests),  # the others waited for labels
        "promotions": len({*served} - {served[0]}),
        "rollbacks": sum((entry["requested"] or {}).get("job") == "set_champion" for entry in timeline),
        "versions_served_in_order": [v for i, v in enumerate(served) if i == 0 or served[i - 1] != v],
        "live_f1_before": mean(timeline[:shift_at]),
        "live_f1_during": mean([e for e in after if switched is None or e["window"] < switched]),
        "live_f1_after": mean([e for e in after if switched is not None and e["window"] >= switched]),
        "setup_seconds": round(setup_seconds, 1),
        "seconds": round(seconds, 1),
        "timeline": timeline,
    }
