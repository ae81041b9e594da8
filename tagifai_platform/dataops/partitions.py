"""Every batch of data (the source and each landing batch) partitions the raw and labeled assets."""

import dagster as dg

batches = dg.DynamicPartitionsDefinition(name="batches")
