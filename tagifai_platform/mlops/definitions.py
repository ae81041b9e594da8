"""Everything the MLOps domain contributes to the code location."""

import dagster as dg

from tagifai_platform.mlops.evaluation import challenger_beats_champion, champion_model, evaluate_challenger
from tagifai_platform.mlops.features import project_features, training_dataset, training_dataset_suite
from tagifai_platform.mlops.jobs import end_to_end_job, mlops_job
from tagifai_platform.mlops.sensors import orphaned_mlflow_runs, refresh_training_data
from tagifai_platform.mlops.training import best_hyperparameters, challenger_model

defs = dg.Definitions(
    assets=[
        project_features,
        training_dataset,
        best_hyperparameters,
        challenger_model,
        evaluate_challenger,
        champion_model,
    ],
    asset_checks=[training_dataset_suite, challenger_beats_champion],
    jobs=[mlops_job, end_to_end_job],
    sensors=[orphaned_mlflow_runs, refresh_training_data],
)
