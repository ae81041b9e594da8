"""The catalog is the truth: the asset graph's edges are the inputs the code reads, and each Dagster
domain stands on its own."""

import ast
from pathlib import Path

import pytest

from tagifai_platform.definitions import build_definitions

PACKAGE = Path(__file__).resolve().parents[1] / "tagifai_platform"
DOMAINS = ("dataops", "mlops", "continual")


@pytest.fixture
def defs(settings):
    return build_definitions(settings)


def test_the_asset_graph_has_the_expected_lineage(defs):
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    # The evaluation scores the recent_eval slice a retraining set aside, hence training_dataset.
    evaluated_from = {"challenger_model", "holdout_projects", "training_dataset"}
    assert parents == {
        "raw_projects": set(),
        "raw_tags": set(),
        "holdout_projects": set(),
        "labeled_projects": {"raw_projects", "raw_tags"},
        "project_features": {"labeled_projects", "holdout_projects"},
        # A retraining set keeps the holdout out itself; a point-in-time one reads the feature store.
        "training_dataset": {"labeled_projects", "project_features", "holdout_projects"},
        "best_hyperparameters": {"training_dataset"},
        "challenger_model": {"training_dataset", "best_hyperparameters"},
        "model_evaluation": evaluated_from,
        "regression_report": evaluated_from,
        "champion_model": {"model_evaluation"},
        # The reference comes with the serving version (champion_model), not the latest training set.
        "monitoring_report": {"labeled_projects", "champion_model"},
    }
    assert all(graph.get(key).code_version for key in graph.get_all_asset_keys()), "staleness needs them"
    blocking = {check.name for check in graph.asset_check_keys if graph.get_check_spec(check).blocking}
    assert blocking == {
        "raw_projects_suite",
        "raw_tags_suite",
        "labeled_projects_suite",
        "holdout_projects_suite",
        "training_dataset_suite",
        "challenger_beats_champion",
    }


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_imports_no_other_domain(domain):
    """Only the core, shared.py, io_managers.py and audits.py are common ground."""
    others = {f"tagifai_platform.{other}" for other in DOMAINS if other != domain}
    crossing = [
        f"{path.name}: {node.module}"
        for path in (PACKAGE / domain).glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and any(node.module == other or node.module.startswith(other + ".") for other in others)
    ]
    assert crossing == []


def test_benchmarks_import_no_test_module():
    benchmarks = (PACKAGE.parent / "benchmarks").glob("*.py")
    assert [path.name for path in benchmarks if "tagifai_platform_tests" in path.read_text()] == []
