"""Storage for asset values that are documents, not tables: records as JSON, reports as Markdown.

Tables go to the DuckDB warehouse; parameters, model references, evaluations and reports are
documents, and plain files keep them readable by people and tools alike (never pickles).
"""

import json
import os
from pathlib import Path

import dagster as dg


class DocumentIOManager(dg.ConfigurableIOManager):
    """An asset's latest value at ``<base_dir>/<asset key>``; an op's under ``runs/<run>/<step>``."""

    base_dir: str

    def _path(self, context: dg.OutputContext | dg.InputContext, suffix: str) -> Path:
        if context.has_asset_key:
            return Path(self.base_dir, *context.asset_key.path).with_suffix(suffix)
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        return Path(self.base_dir, "runs", *output.get_identifier()).with_suffix(suffix)

    def handle_output(self, context: dg.OutputContext, obj: dict | str) -> None:
        is_text = isinstance(obj, str)
        path = self._path(context, ".md" if is_text else ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(obj if is_text else json.dumps(obj, indent=2, sort_keys=True, default=str))
        os.replace(partial, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> dict | str:
        record, text = self._path(context, ".json"), self._path(context, ".md")
        if record.exists():
            return json.loads(record.read_text())
        if text.exists():
            return text.read_text()
        raise FileNotFoundError(f"No stored value at {record.with_suffix('')}: has it been materialized?")
