"""Feature assets: the labeled union published to Feast, and the training set retrieved from it."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from tagifai_platform.data.transform import tag_distribution, union_batches
from tagifai_platform.dataops.metadata import frame_metadata
from tagifai_platform.dataops.partitions import batches
from tagifai_platform.mlops.resources import FeatureStore

GROUP = "mlops"
SEED = 1234


@dg.asset(group_name=GROUP, kinds={"feast", "parquet", "sqlite"})
def project_features(
    context: dg.AssetExecutionContext, labeled_projects: pd.DataFrame, features: FeatureStore
) -> dg.MaterializeResult:
    """Every valid batch's labeled projects in the Feast offline store and online store."""
    batch_order = context.instance.get_dynamic_partitions(batches.name)
    union = union_batches(labeled_projects, batch_order)
    from tagifai_platform.features import publish_features

    figures = publish_features(features.store, union.drop(columns=["batch"]))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(union),
            "batches": sorted(union["batch"].unique().tolist()),
            "tag_distribution": dg.MetadataValue.json(tag_distribution(union)),
            "features": figures["features"],
            "offline_store": dg.MetadataValue.path(str(figures["path"])),
            "online_store": dg.MetadataValue.path(str(figures["online_store"])),
        }
    )


@dg.asset(group_name=GROUP, deps=[project_features], kinds={"feast", "duckdb"})
def training_dataset(labeled_projects: pd.DataFrame, features: FeatureStore) -> dg.Output[pd.DataFrame]:
    """Point-in-time features of the labeled projects as of now, split train/validation/test.

    The split is stratified and seeded; the holdout stays apart as the frozen evaluation set.
    """
    from tagifai_platform.features import entity_frame, training_frame
    from tagifai_platform.ml.splits import split_dataset

    cutoff = datetime.now(UTC).replace(tzinfo=None)
    ids = sorted(labeled_projects["id"].unique().tolist())
    frame = training_frame(features.store, entity_frame(ids, cutoff)).dropna(subset=["text", "tag"])
    splits = split_dataset(frame, seed=SEED, validation_fraction=0.15, test_fraction=0.15)
    dataset = pd.concat(
        [part.assign(split=name) for name, part in splits.as_dict().items()], ignore_index=True
    )
    metadata = frame_metadata(
        dataset, source=f"feast point-in-time retrieval as of {cutoff:%Y-%m-%d %H:%M}", batch=None
    )
    return dg.Output(
        dataset,
        metadata={
            **metadata,
            "split_sizes": dg.MetadataValue.json(dataset["split"].value_counts().to_dict()),
        },
    )
