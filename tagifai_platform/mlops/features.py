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
from tagifai_platform.dataops.metadata import frame_metadata
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.dataops.resources import ExpectationsValidator
from tagifai_platform.io_managers import WarehouseResource, audited_by
from tagifai_platform.mlops.resources import FeatureStore

GROUP = "mlops"
SEED = 1234


def published_union(
    instance: dg.DagsterInstance, labeled_projects: pd.DataFrame, warehouse: WarehouseResource
) -> tuple[pd.DataFrame, dict]:
    """One row per project over the published batches, the latest ingestion winning, and the batch report."""
    union = union_batches(labeled_projects, warehouse.publication_order("labeled_projects"))
    report = warehouse.partition_report("labeled_projects", instance.get_dynamic_partitions(batches.name))
    return union, report


@dg.asset(group_name=GROUP, kinds={"feast", "parquet", "sqlite"})
def project_features(
    context: dg.AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    holdout_projects: pd.DataFrame,
    features: FeatureStore,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Every published batch's labeled projects in the Feast offline store and online store.

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
            "offline_store": dg.MetadataValue.path(str(figures["path"])),
            "online_store": dg.MetadataValue.path(str(figures["online_store"])),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[project_features],
    kinds={"feast", "duckdb"},
    metadata=audited_by("training_dataset_suite"),
)
def training_dataset(
    context: dg.AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    features: FeatureStore,
    warehouse: WarehouseResource,
) -> dg.Output[pd.DataFrame]:
    """Point-in-time features of the published union as of now, split train/validation/test.

    The split is stratified and seeded; the holdout stays apart as the frozen evaluation set.
    A project the store returns without features is kept (with nulls) for the check to name.
    """
    from tagifai_platform.features import entity_frame, training_frame
    from tagifai_platform.ml.splits import split_dataset

    union, report = published_union(context.instance, labeled_projects, warehouse)
    cutoff = datetime.now(UTC).replace(tzinfo=None)
    frame = training_frame(features.store, entity_frame(sorted(union["id"].tolist()), cutoff))
    missing = frame[frame["text"].isna() | frame["tag"].isna()]
    complete = frame.drop(index=missing.index)
    splits = split_dataset(complete, seed=SEED, validation_fraction=0.15, test_fraction=0.15)
    dataset = pd.concat(
        [part.assign(split=name) for name, part in splits.as_dict().items()]
        + [missing.assign(split="missing_features")],
        ignore_index=True,
    )
    metadata = frame_metadata(
        dataset, source=f"feast point-in-time retrieval as of {cutoff:%Y-%m-%d %H:%M} UTC", batch=None
    )
    return dg.Output(
        dataset,
        metadata={
            **metadata,
            "split_sizes": dg.MetadataValue.json(dataset["split"].value_counts().to_dict()),
            "batches": dg.MetadataValue.json(report),
        },
    )


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
    """Exactly the published union: every project with its features, model classes, no holdout."""
    union, _ = published_union(context.instance, labeled_projects, warehouse)
    suite = suites.training_dataset_suite(label_holdout(holdout_projects), expected_rows=len(union))

    def validate(dataset: pd.DataFrame) -> ValidationSummary:
        summary = validator.validate(dataset, suite)
        unexplained = sorted(set(union["id"]) - set(dataset.dropna(subset=["text", "tag"])["id"]))
        if not unexplained:
            return summary
        lost = FailedExpectation(
            "rows of the validated union without features", "column id", len(unexplained), unexplained[:5]
        )
        return ValidationSummary(
            summary.suite, summary.rows, summary.evaluated + 1, [*summary.failures, lost]
        )

    return audit(context, warehouse.warehouse, "training_dataset", validate, where="the Feast retrieval")
