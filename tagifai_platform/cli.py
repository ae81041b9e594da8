"""The ``tagifai`` command line: ask the model in service, score it on a file, see where things are."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tagifai_platform.registry import CHAMPION, ModelRegistry, ModelVersion
from tagifai_platform.settings import Settings, SettingsError, load_settings, quiet_libraries

NO_CHAMPION = "No champion model yet: run `make run` (or the end_to_end job) to train and promote one."


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)


def _champion(settings: Settings) -> tuple[ModelVersion, object]:
    registry = _registry(settings)
    if not registry.exists():
        raise CliError(NO_CHAMPION)
    champion = registry.by_alias(CHAMPION)
    if champion is None:
        raise CliError(NO_CHAMPION)
    try:
        return champion, registry.load(champion)
    except Exception as error:  # MLflow, skops and the file system each raise their own
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CliError(
            f"The champion (version {champion.version}, {champion.source}) cannot be loaded: {reason}"
        ) from error


def predict(args, settings: Settings) -> dict:
    from tagifai_platform.ml.model import predict as predict_texts

    blank = [number for number, text in enumerate(args.texts, start=1) if not text.strip()]
    if blank:
        raise CliError(
            f"empty or whitespace-only text (argument {_few(blank)}): give a title and description"
        )
    champion, model = _champion(settings)
    return {"model_version": champion.version, "predictions": predict_texts(model, args.texts)}


def labeled_problems(frame) -> list[str]:
    """What makes a labeled file unfit to score a model on: no rows, missing, unknown or repeated labels.

    An unknown tag would silently count as ``other`` and a repeated project twice, so either would
    change the scores without a word.
    """
    from tagifai_platform.data.schema import RAW_TAGS

    if frame.empty:
        return ["it has a header but no rows"]
    problems = []
    rows = frame.index + 2  # the file's line numbers, after the header
    tags = frame["tag"].fillna("").str.strip()
    blank = rows[tags == ""]
    if len(blank):
        problems.append(f"rows without a tag (file lines {_few(blank)})")
    unknown = sorted(set(tags[(tags != "") & ~tags.isin(RAW_TAGS)]))
    if unknown:
        problems.append(f"unknown tags {_few(unknown)} (known: {', '.join(RAW_TAGS)})")
    repeated = sorted(set(frame["id"][frame["id"].duplicated()]))
    if repeated:
        problems.append(f"ids {_few(repeated)} appear more than once")
    return problems


def _few(values) -> str:
    values = [str(value) for value in values]
    return ", ".join(values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def evaluate(args, settings: Settings) -> dict:
    from tagifai_platform.data.sources import SourceError, read_holdout
    from tagifai_platform.data.transform import label_holdout
    from tagifai_platform.ml.evaluation import evaluate as evaluate_model

    try:
        raw = read_holdout(str(args.file))
        if problems := labeled_problems(raw):
            raise CliError(f"Cannot evaluate on {args.file}: {'; '.join(problems)}")
        frame = label_holdout(raw)
    except (SourceError, ValueError) as error:
        raise CliError(f"Cannot evaluate on {args.file}: {error}") from error
    champion, model = _champion(settings)
    result = evaluate_model(model, frame)
    return {
        "model_version": champion.version,
        "rows": len(frame),
        "overall": result["overall"],
        "per_class": result["per_class"],
    }


def status(args, settings: Settings) -> dict:
    registry = _registry(settings)
    champion = registry.by_alias(CHAMPION) if registry.exists() else None
    return {
        "home": str(settings.home),
        "champion": None
        if champion is None
        else {
            "version": champion.version,
            "holdout": champion.holdout_metrics,
            "promotion": champion.promotion,
        },
        "dagster_ui": "make dev, then open http://127.0.0.1:3000",
        "mlflow_ui": f"{Path(sys.executable).parent / 'mlflow'} ui "
        f"--backend-store-uri {settings.mlflow_tracking_uri}",
    }


def rollback(args, settings: Settings) -> dict:
    """Run the ``set_champion`` job on the platform's Dagster instance, as the policy engine does:
    the change is a ``champion_model`` materialization, and the service follows the alias."""
    import os

    import dagster as dg

    from tagifai_platform.definitions import build_definitions

    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    action = "pin" if args.pin else "rollback"
    if args.pin and args.to is None:
        raise CliError("--pin needs --to VERSION")
    reasons = [args.reason or f"{action} by hand (tagifai rollback)"]
    config = {"action": action, "version": args.to, "reasons": reasons}
    job = build_definitions(settings).resolve_job_def("set_champion")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"champion_model": {"config": config}},
                # The run's own log is in the instance; the terminal gets the outcome only.
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            tags={"tagifai/requested_by": "tagifai rollback"},
            raise_on_error=False,
        )
    if not result.success:
        failure = result.failure_data_for_node("champion_model")
        reason = failure.error.message.strip() if failure and failure.error else "the run failed"
        reason = reason.splitlines()[0].removeprefix(f"{dg.Failure.__module__}.Failure: ")
        raise CliError(f"{reason} (Dagster run {result.run_id})")
    record = result.output_for_node("champion_model")
    return {"champion": record, "dagster_run_id": result.run_id}


def serve(args, settings: Settings) -> dict:
    from tagifai_platform.serving.server import serve as run_service

    run_service(settings, host=args.host, port=args.port)
    return {"stopped": f"http://{args.host}:{args.port}"}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tagifai", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    predict_parser = commands.add_parser("predict", help="tag texts with the champion model")
    predict_parser.add_argument("texts", nargs="+", help="project title and description")
    predict_parser.set_defaults(run=predict)
    evaluate_parser = commands.add_parser("evaluate", help="score the champion on a labeled CSV")
    evaluate_parser.add_argument("file", type=Path, help="CSV with id,created_on,title,description,tag")
    evaluate_parser.set_defaults(run=evaluate)
    status_parser = commands.add_parser("status", help="the champion and where to look")
    status_parser.set_defaults(run=status)
    rollback_parser = commands.add_parser(
        "rollback", help="move the champion back to the version it replaced, or to --to VERSION"
    )
    rollback_parser.add_argument("--to", type=int, help="the version to serve (default: the previous one)")
    rollback_parser.add_argument("--pin", action="store_true", help="serve --to VERSION (not a rollback)")
    rollback_parser.add_argument("--reason", help="why, recorded with the change")
    rollback_parser.set_defaults(run=rollback)
    serve_parser = commands.add_parser("serve", help="answer predictions over HTTP with the champion model")
    serve_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve_parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve_parser.set_defaults(run=serve)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet_libraries()
    try:
        print(json.dumps(args.run(args, load_settings()), indent=2, default=str))
    except (CliError, SettingsError) as error:
        print(f"tagifai: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
