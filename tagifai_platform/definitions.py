"""The code location: each domain's definitions plus the resources the settings choose."""

import dagster as dg

from tagifai_platform.continual import definitions as continual
from tagifai_platform.dataops import definitions as dataops
from tagifai_platform.mlops import definitions as mlops
from tagifai_platform.resources import build_executor, build_resources
from tagifai_platform.settings import Settings, load_settings, quiet_libraries


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        dataops.defs,
        mlops.defs,
        continual.defs,
        dg.Definitions(resources=build_resources(settings), executor=build_executor(settings)),
    )


quiet_libraries()
defs = build_definitions(load_settings())
