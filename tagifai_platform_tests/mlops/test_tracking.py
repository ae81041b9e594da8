"""The training data's fingerprint: what the gate compares to tell new data from the same data,
and how a logged model names the data it learned from."""

import json

from tagifai_platform.mlops.tracking import data_fingerprint


def test_the_same_rows_in_any_order_have_one_fingerprint_and_a_relabel_changes_it(labeled):
    fingerprint = data_fingerprint(labeled)
    assert data_fingerprint(labeled.sample(frac=1, random_state=0)) == fingerprint
    assert data_fingerprint(labeled.assign(title="ignored")) == fingerprint, "only id, tag and text count"
    relabeled = labeled.copy()
    relabeled.loc[relabeled.index[0], "tag"] = "other" if labeled["tag"].iloc[0] != "other" else "mlops"
    assert data_fingerprint(relabeled) != fingerprint
    assert data_fingerprint(labeled.iloc[1:]) != fingerprint


def test_a_logged_model_names_its_training_set_by_fingerprint_and_schema(settings, labeled):
    """The training set is logged as metadata (MLflow never scans its rows): the digest is the
    run's data fingerprint and the schema has every column."""
    import mlflow

    from tagifai_platform.ml.model import train_model
    from tagifai_platform.registry import EXPERIMENT_NAME, ModelRegistry, log_model

    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    model = train_model({"word_max_features": 50, "char_max_features": 50}, labeled, labeled.head(100))
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    fingerprint = data_fingerprint(labeled)
    with mlflow.start_run(experiment_id=registry.ensure_experiment(EXPERIMENT_NAME)) as run:
        log_model(model, labeled, {"threshold": model.threshold}, {}, digest=fingerprint)
    (logged,) = registry.client.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "training_dataset" and logged.dataset.digest == fingerprint
    columns = [column["name"] for column in json.loads(logged.dataset.schema)["mlflow_colspec"]]
    assert columns == list(labeled.columns)
