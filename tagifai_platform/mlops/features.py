"""Feature assets: the published labeled union in Feast, and the training set retrieved from it.

Both read only batches that passed their checks, say which they used and which they did not, and
keep the holdout out by id and by text; ``training_dataset`` is audited once more where the model
reads it, so it holds exactly the validated union or the difference is a failed check.
"""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from tagifai_platform.audits import audit
from tagifai_platform.data import suites
from tagifai_platform.data.transform import holdout_overlap, label_holdout, tag_distribution, union_batches
from tagifai_platform.data.validation import FailedExpectation, ValidationSummary
from tagifai_platform.io_managers import WarehouseResource, audited_by
from tagifai_platform.mlops.resources import FeatureStore
from tagifai_platform.monitoring.retraining import ORIGINAL
from tagifai_platform.registry import CHAMPION, TRAINING_IDS, ModelRegistry
from tagifai_platform.shared import (
    MLOPS,
    ExpectationsValidator,
    LabelingDesk,
    ModelRegistryResource,
    batches,
    frame_metadata,
)
from tagifai_platform.version import source_version

SEED = 1234

# A batch that passed its checks refreshes the features and the training set without anyone asking
# (the automation sensor); retraining is not automatic: the policy engine, or a person, decides.
REFRESH_WITH_NEW_BATCHES = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)


def published_union(
    instance: dg.DagsterInstance, labeled_projects: pd.DataFrame, warehouse: WarehouseResource
) -> tuple[pd.DataFrame, dict]:
    """One row per project over the published batches, the latest ingestion winning, and the batch report."""
    union = union_batches(labeled_projects, warehouse.publication_order("labeled_projects"))
    report = warehouse.partition_report("labeled_projects", instance.get_dynamic_partitions(batches.name))
    return union, report


@dg.asset(
    group_name=MLOPS,
    kinds={"feast", "parquet", "sqlite"},
    code_version=source_version("tagifai_platform.features.store", "tagifai_platform.features.repo"),
    automation_condition=REFRESH_WITH_NEW_BATCHES,
)
def project_features(
    context: dg.AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    holdout_projects: pd.DataFrame,
    features: FeatureStore,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Every published batch's labeled projects in the Feast offline store (every feature, for
    training), and their current tags in the online store.

    Every batch is checked again against the current holdout: one published before the holdout
    changed may hold a project that is now in it, and then nothing is published.
    """
    union, report = published_union(context.instance, labeled_projects, warehouse)
    leaked = holdout_overlap(union, label_holdout(holdout_projects))
    if len(leaked):
        raise dg.Failure(
            description=(
                f"{len(leaked)} labeled projects are in the holdout (by id or text), in batches "
                f"{sorted(leaked['batch'].unique())}: ids {leaked['id'].head(10).tolist()}. Remove them from "
                "those batches (or from holdout.csv) and ingest again; the feature store is unchanged."
            ),
            metadata={"leaked_ids": dg.MetadataValue.json(leaked["id"].head(100).tolist())},
        )
    from tagifai_platform.features import publish_features

    figures = publish_features(features.store, union.drop(columns=["batch"]))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(union),
            "batches": dg.MetadataValue.json(report),
            "tag_distribution": dg.MetadataValue.json(tag_distribution(union)),
            "features": figures["features"],
            "online_features": figures["online_features"],
            # "changed rows" when the online store held the previous publication, else "full".
            "online_write": figures["online_write"],
            "online_rows_written": figures["online_rows_written"],
            "offline_store": dg.MetadataValue.path(str(figures["path"])),
            "online_store": dg.MetadataValue.path(str(figures["online_store"])),
        }
    )


class TrainingSetConfig(dg.Config):
    """How this materialization makes the training set; the policy engine's improve branch (or a
    person) asks for a retraining with ``retraining: true`` and says why."""

    retraining: bool = False
    reasons: list[str] = []
    # Where the drift a retraining reacts to began: it waits for labels of requests since then.
    changed_since: str | None = None


RETRAINING_SEED = 4321


@dg.asset(
    group_name=MLOPS,
    deps=[project_features],
    kinds={"feast", "duckdb"},
    metadata=audited_by("training_dataset_suite"),
    code_version=source_version(
        "tagifai_platform.ml.splits",
        "tagifai_platform.monitoring.retraining",
        "tagifai_platform.monitoring.labeling",
    ),
    automation_condition=REFRESH_WITH_NEW_BATCHES,
)
def training_dataset(
    context: dg.AssetExecutionContext,
    config: TrainingSetConfig,
    labeled_projects: pd.DataFrame,
    holdout_projects: pd.DataFrame,
    features: FeatureStore,
    warehouse: WarehouseResource,
    model_registry: ModelRegistryResource,
    labeling: LabelingDesk,
) -> dg.Output[pd.DataFrame]:
    """What the next challenger learns from, split train/validation/test; the holdout stays apart.

    By default, the point-in-time features of the published union as of now (a project the store
    returns without features is kept, with nulls, for the check to name). For a retraining, the
    champion's own training rows plus everything labeled since (published batches and annotated
    requests), cleaned and rebalanced, with the newest labels set aside as ``recent_eval``.
    """
    from tagifai_platform.mlops.tracking import data_fingerprint

    union, report = published_union(context.instance, labeled_projects, warehouse)
    if config.retraining:
        dataset, details = composed_for_retraining(
            union.drop(columns=["batch"]),
            labeling.annotated(),
            label_holdout(holdout_projects),
            model_registry.registry,
            min_new_labels=labeling.min_new_labels,
            changed_since=config.changed_since,
        )
        details["reasons"] = dg.MetadataValue.md("\n".join(f"- {reason}" for reason in config.reasons))
    else:
        dataset, details = point_in_time(union, features.store)
    metadata = frame_metadata(dataset, source=details.pop("source"), batch=None)
    return dg.Output(
        dataset,
        data_version=dg.DataVersion(data_fingerprint(dataset)),
        metadata={
            **metadata,
            **details,
            "split_sizes": dg.MetadataValue.json(dataset["split"].value_counts().to_dict()),
            "batches": dg.MetadataValue.json(report),
        },
    )


def point_in_time(union: pd.DataFrame, store) -> tuple[pd.DataFrame, dict]:
    from tagifai_platform.features import entity_frame, training_frame
    from tagifai_platform.ml.splits import split_dataset

    cutoff = datetime.now(UTC).replace(tzinfo=None)
    frame = training_frame(store, entity_frame(sorted(union["id"].tolist()), cutoff))
    missing = frame[frame["text"].isna() | frame["tag"].isna()]
    complete = frame.drop(index=missing.index)
    splits = split_dataset(complete, seed=SEED, validation_fraction=0.15, test_fraction=0.15)
    dataset = pd.concat(
        [part.assign(split=name) for name, part in splits.as_dict().items()]
        + [missing.assign(split="missing_features")],
        ignore_index=True,
    )
    return dataset, {"source": f"feast point-in-time retrieval as of {cutoff:%Y-%m-%d %H:%M} UTC"}


def composed_for_retraining(
    union: pd.DataFrame,
    annotated: pd.DataFrame,
    holdout: pd.DataFrame,
    registry: ModelRegistry,
    *,
    min_new_labels: int,
    changed_since: str | None,
) -> tuple[pd.DataFrame, dict]:
    """Everything labeled so far, split by what the champion learned from (``previous``) and not.

    Annotated requests that the champion was trained (or evaluated) on are ``previous`` too, so a
    second retraining does not count them as new again.
    """
    from tagifai_platform.monitoring.labeling import annotations_as_labeled
    from tagifai_platform.monitoring.retraining import NothingNewError, compose_and_split

    champion = registry.by_alias(CHAMPION)
    if champion is None:
        raise dg.Failure("A retraining starts from the champion, and there is none: run end_to_end first.")
    trained_on = set(registry.document(champion, TRAINING_IDS) or [])
    known = pd.concat([union, annotations_as_labeled(annotated)], ignore_index=True)
    seen = known["id"].isin(trained_on)
    try:
        dataset, composition = compose_and_split(
            known[seen],
            known[~seen],
            seed=RETRAINING_SEED,
            holdout=holdout,
            min_added=min_new_labels,
            changed_since=changed_since,
        )
    except NothingNewError as error:
        raise dg.Failure(f"No retraining: {error}. The champion stays as it is.") from error
    return dataset, {
        "source": f"champion v{champion.version}'s training rows and the labels that arrived since",
        "composition": dg.MetadataValue.json(composition),
        "retraining_from": champion.version,
    }


@dg.asset_check(
    asset=training_dataset,
    blocking=True,
    additional_ins={
        "labeled_projects": dg.AssetIn("labeled_projects"),
        "holdout_projects": dg.AssetIn("holdout_projects"),
    },
)
def training_dataset_suite(
    context: dg.AssetCheckExecutionContext,
    labeled_projects: pd.DataFrame,
    holdout_projects: pd.DataFrame,
    warehouse: WarehouseResource,
    validator: ExpectationsValidator,
) -> dg.AssetCheckResult:
    """Model classes, one row per project and text, no holdout; and for a point-in-time set, exactly
    the published union, every project with its features.

    A retraining set holds copies of rows (rebalancing) and leaves some rows out on purpose (the
    composition report counts them): its original rows are checked, and its row count is not.
    """
    union, _ = published_union(context.instance, labeled_projects, warehouse)
    holdout = label_holdout(holdout_projects)

    def validate(dataset: pd.DataFrame) -> ValidationSummary:
        if "origin" in dataset and dataset["origin"].notna().any():
            originals = dataset[dataset["origin"] == ORIGINAL]
            return validator.validate(originals, suites.training_dataset_suite(holdout, len(originals)))
        summary = validator.validate(dataset, suites.training_dataset_suite(holdout, len(union)))
        unexplained = sorted(set(union["id"]) - set(dataset.dropna(subset=["text", "tag"])["id"]))
        if not unexplained:
            return summary
        lost = FailedExpectation(
            "rows of the validated union without features", "column id", len(unexplained), unexplained[:5]
        )
        return ValidationSummary(
            summary.suite, summary.rows, summary.evaluated + 1, [*summary.failures, lost]
        )

    return audit(
        context, warehouse.warehouse, "training_dataset", validate, where="the training set as written"
    )
