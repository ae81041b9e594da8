"""The DuckDB warehouse file: a write's memory is bounded, never the size of what it stores."""

import pyarrow.compute as pc

from tagifai_platform.data.sources import read_projects, read_tags
from tagifai_platform.data.synthetic import synthesize
from tagifai_platform.data.transform import labeled_table
from tagifai_platform.warehouse import Warehouse, duckdb_file


def test_a_write_beyond_its_memory_bound_is_stored_whole(tmp_path, monkeypatch, dataset_dir):
    """100,000 labeled projects (33 MiB as Arrow, twice the bound) written under a 16 MB bound, as a first
    version and again as the one published: DuckDB writes finished blocks to the file instead of
    failing or keeping them, and the rows read back are the rows written."""
    projects = read_projects(str(dataset_dir / "projects.csv"))
    batch = synthesize(projects, read_tags(str(dataset_dir / "tags.csv"), projects), n=100_000, seed=3)
    labeled = labeled_table(batch.projects, batch.tags)
    assert labeled.nbytes > 16 * 2**20
    monkeypatch.setattr(duckdb_file, "WRITE_MEMORY", "16MB")
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")

    warehouse.write("labeled_projects", labeled, version="first", partition="source", publish=False)
    warehouse.write("labeled_projects", labeled, version="second", partition="source", publish=True)

    stored = warehouse.published_table("labeled_projects", ["source"])
    stored = stored.take(pc.sort_indices(stored, [("id", "ascending")])).select(labeled.column_names)
    assert stored.equals(labeled)
    with warehouse.backend.transaction(()) as db:
        [(bound,)] = db.rows("select current_setting('memory_limit')")
    assert bound.endswith("MiB") and float(bound.split()[0]) < 16
