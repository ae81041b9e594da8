"""MLOps jobs: the model half on its own, and the whole pipeline that `make run` executes."""

import dagster as dg

from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform.shared import DATAOPS, MLOPS

mlops_job = dg.define_asset_job(
    "mlops",
    selection=dg.AssetSelection.groups(MLOPS),
    description="Features, tuning, training, evaluation and the champion/challenger gate.",
)

end_to_end_job = dg.define_asset_job(
    "end_to_end",
    selection=dg.AssetSelection.groups(DATAOPS, MLOPS),
    description="DataOps on the configured source, then the whole MLOps chain through promotion.",
    tags={"dagster/partition": SOURCE_BATCH},
)
