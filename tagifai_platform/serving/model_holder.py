"""The champion the service answers with, and how it changes under live traffic.

A request takes :attr:`ModelHolder.served` once and uses it to the end, so a promotion never
changes the model under a request in flight. A background thread asks the registry for the
``champion`` alias every ``refresh_seconds`` and loads a new version completely before
replacing that single reference: requests never wait for MLflow, and a version that fails to
load leaves the previous one serving.

Loading a version takes seconds, so the holder keeps ready the versions a move of the alias
most likely points at next: the ``challenger`` (a promotion) and the champion served before
(a rollback). Either move is then served from the next check of the alias on, without a load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tagifai_platform.registry import CHALLENGER, CHAMPION, ModelRegistry, ModelVersion
from tagifai_platform.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    champion: ModelVersion
    model: Any
    loaded_at: datetime


class ModelHolder:
    def __init__(
        self,
        find_alias: Callable[[str], ModelVersion | None],
        load: Callable[[ModelVersion], Any],
        refresh_seconds: float,
        on_swap: Callable[[Served], None] | None = None,
    ):
        self._find_alias = find_alias
        self._load = load
        self._ready: dict[int, Any] = {}  # version -> loaded model: the served, previous and challenger
        self._previous: int | None = None
        self._on_swap = on_swap
        self.refresh_seconds = refresh_seconds
        self.served: Served | None = None
        self.checked_at: datetime | None = None
        self.last_error: str | None = None
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_settings(cls, settings: Settings, on_swap: Callable[[Served], None] | None = None) -> ModelHolder:
        registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifacts)

        def find_alias(alias: str) -> ModelVersion | None:
            return registry.by_alias(alias) if registry.exists() else None

        return cls(find_alias, registry.load, settings.serve_refresh_seconds, on_swap)

    def refresh(self) -> Served | None:
        """Serve the current champion (loading it if its version changed, else only taking its new
        tags), then make the challenger ready."""
        with self._refreshing:
            try:
                champion = self._find_alias(CHAMPION)
                # The registry answers None for a failed lookup as well as for a removed alias,
                # so either way the last champion serves on.
                if champion is not None:
                    self._take(champion)
                challenger = self._find_alias(CHALLENGER)
                self._keep_ready(challenger)
            except Exception as error:  # whatever broke, the last good model serves on
                self.last_error = f"{type(error).__name__}: {error}"
                logger.warning("Refreshing the champion failed, the current model stays: %s", self.last_error)
            else:
                self.last_error = None
            self.checked_at = datetime.now(UTC)
            return self.served

    def _take(self, champion: ModelVersion) -> None:
        current = self.served
        if current is not None and champion.version == current.champion.version:
            if champion != current.champion:
                self.served = replace(current, champion=champion)
            return
        model = self._ready[champion.version] if champion.version in self._ready else self._load(champion)
        self._previous = current.champion.version if current else None
        self.served = Served(champion, model, datetime.now(UTC))
        if self._on_swap is not None:
            self._on_swap(self.served)
        logger.info(
            "Serving model version %s (was %s)",
            champion.version,
            current.champion.version if current else None,
        )

    def _keep_ready(self, challenger: ModelVersion | None) -> None:
        """Keep the served, previous and challenger models loaded, and only those."""
        served = self.served
        if served is not None:
            self._ready[served.champion.version] = served.model
        if challenger is not None and challenger.version not in self._ready:
            self._ready[challenger.version] = self._load(challenger)
        keep = {
            served.champion.version if served else None,
            self._previous,
            challenger and challenger.version,
        }
        self._ready = {version: model for version, model in self._ready.items() if version in keep}

    def start(self) -> None:
        """Load the champion now, then keep checking for a new one in a background thread."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="champion-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()
