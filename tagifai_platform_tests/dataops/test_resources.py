"""The DataOps resources on a real instance."""

import dagster as dg
from dagster._core.storage.event_log.schema import DynamicPartitionsTable

from tagifai_platform.data.batches import SOURCE_BATCH
from tagifai_platform.dataops.resources import ProjectSource
from tagifai_platform.shared import batches


def test_a_source_partition_added_by_another_process_meanwhile_is_no_error(tmp_path):
    """CI's reproduction: two Celery workers set up `source` for two steps at once. On SQLite storage
    Dagster selects the partitions, then inserts the missing ones; both workers selected first, and
    the second insert broke the table's unique key: the step's task raised, and dagster-celery then
    waited for ever. Here the other worker's row lands between our select and our insert."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        add = instance.add_dynamic_partitions
        raced = []

        def add_after_the_other_worker(name, keys):
            add(name, keys)  # the other worker's insert, after our select
            raced.append(keys)
            with instance.event_log_storage.index_connection() as connection:  # our own insert
                rows = [{"partitions_def_name": name, "partition": key} for key in keys]
                connection.execute(DynamicPartitionsTable.insert(), rows)

        instance.add_dynamic_partitions = add_after_the_other_worker
        source = ProjectSource(location=str(tmp_path), landing=str(tmp_path / "landing"))

        source.setup_for_execution(dg.build_init_resource_context(instance=instance))

        assert raced == [[SOURCE_BATCH]]
        assert instance.get_dynamic_partitions(batches.name) == [SOURCE_BATCH]
