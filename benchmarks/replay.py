"""Does the continual-learning policy act when it should, and only then? Replayed, window by window.

``python -m benchmarks.replay`` (``--scale 0.25`` for a quick look) streams synthetic traffic
through monitoring and the policy with a simulated clock (see
:mod:`tagifai_platform.monitoring.replay`): stable traffic, a sudden and a gradual shift to a new
topic, a worse champion promoted, labels arriving late. It prints one JSON object: per scenario,
alerting windows, retrains, rollbacks, windows from the change to the first action and live F1
before / during / after. ``--through-service`` adds a sudden shift replayed through the real service,
jobs and sensors (:mod:`benchmarks.replay_service`). Data comes from ``TAGIFAI_SOURCE`` (offline:
``TAGIFAI_SOURCE=../shared/datasets/madewithml``).
"""

import argparse
import json
import time

from tagifai_platform.settings import load_settings, quiet_libraries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of each scenario's windows")
    parser.add_argument("--timeline", action="store_true", help="also print every window's figures")
    parser.add_argument(
        "--through-service",
        action="store_true",
        help="also replay a sudden shift through tagifai serve and the Dagster jobs (about 10 minutes)",
    )
    args = parser.parse_args()
    quiet_libraries()
    from tagifai_platform.data.sources import read_holdout, read_projects, read_tags
    from tagifai_platform.data.transform import label_holdout, label_projects
    from tagifai_platform.monitoring.replay import replay

    source = load_settings().source.rstrip("/")
    projects = read_projects(f"{source}/projects.csv")
    labeled = label_projects(projects, read_tags(f"{source}/tags.csv", projects))
    holdout = label_holdout(read_holdout(f"{source}/holdout.csv"))
    start = time.perf_counter()
    results = replay(labeled, holdout, scale=args.scale, keep_timeline=args.timeline)
    results["seconds"] = round(time.perf_counter() - start, 1)
    if args.through_service:
        from benchmarks.replay_service import replay_through_service

        service = replay_through_service(source)
        if not args.timeline:
            del service["timeline"]
        results["sudden_shift_through_the_service"] = service
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
