"""Everything the continual-learning domain contributes to the code location."""

import dagster as dg

from tagifai_platform.continual.assets import monitoring_report, monitoring_thresholds
from tagifai_platform.continual.policy_engine import policy_engine
from tagifai_platform.continual.triggers import (
    failed_actions,
    monitoring_alerts,
    monitoring_job,
    monitoring_schedule,
    policy_actions,
    retrain_job,
    set_champion_job,
)

defs = dg.Definitions(
    assets=[monitoring_report],
    asset_checks=[monitoring_thresholds],
    jobs=[monitoring_job, policy_engine, retrain_job, set_champion_job],
    schedules=[monitoring_schedule],
    sensors=[monitoring_alerts, policy_actions, failed_actions],
)
