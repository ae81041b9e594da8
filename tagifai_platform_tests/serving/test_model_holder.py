"""The champion holder against a registry stand-in: when it loads, when it swaps, what it keeps."""

import json
import threading
import time

import pytest

from tagifai_platform.registry import CHALLENGER, CHAMPION, PROMOTION_TAG, ModelVersion
from tagifai_platform.serving.model_holder import ModelHolder


def version(number: int, **tags) -> ModelVersion:
    return ModelVersion(
        number, f"run-{number}", f"models:/m-{number}", {k: json.dumps(v) for k, v in tags.items()}
    )


class Registry:
    """Answers what the aliases point at and counts loads; ``fail`` makes the next call raise."""

    def __init__(self):
        self.champion: ModelVersion | None = None
        self.challenger: ModelVersion | None = None
        self.loads: list[int] = []
        self.fail_find: Exception | None = None
        self.fail_load: Exception | None = None

    def find(self, alias: str) -> ModelVersion | None:
        if self.fail_find:
            raise self.fail_find
        return {CHAMPION: self.champion, CHALLENGER: self.challenger}[alias]

    def load(self, model_version: ModelVersion) -> dict:
        if self.fail_load:
            raise self.fail_load
        self.loads.append(model_version.version)
        return {"model": model_version.version}


@pytest.fixture
def registry():
    return Registry()


@pytest.fixture
def holder(registry):
    return ModelHolder(registry.find, registry.load, refresh_seconds=0.05)


def test_nothing_is_served_until_a_champion_exists(registry, holder):
    assert holder.refresh() is None and holder.served is None
    registry.champion = version(1)
    assert holder.refresh().model == {"model": 1}


def test_an_unchanged_champion_is_not_loaded_again(registry, holder):
    registry.champion = version(1)
    for _ in range(3):
        holder.refresh()
    assert registry.loads == [1]


def test_a_promotion_and_a_rollback_swap_the_model_but_not_under_a_request_in_flight(registry, holder):
    registry.champion = version(1)
    in_flight = holder.refresh()
    registry.champion = version(2)
    assert holder.refresh().model == {"model": 2}
    assert in_flight.model == {"model": 1}, "a request keeps the model it took"
    registry.champion = version(1)
    assert holder.refresh().model == {"model": 1}
    assert registry.loads == [1, 2], "the champion before is kept ready for a rollback"


def test_the_challenger_is_loaded_ahead_so_that_its_promotion_is_served_without_a_load(registry, holder):
    registry.champion, registry.challenger = version(1), version(2)
    assert holder.refresh().model == {"model": 1} and registry.loads == [1, 2]
    registry.champion, registry.challenger = version(2), version(3)
    assert holder.refresh().model == {"model": 2} and registry.loads == [1, 2, 3]
    registry.challenger = version(4)
    holder.refresh()
    assert registry.loads == [1, 2, 3, 4]
    registry.champion = version(3)  # neither served, previous nor challenger any more: loaded again
    holder.refresh()
    assert registry.loads == [1, 2, 3, 4, 3]


def test_new_tags_on_the_same_version_are_taken_without_a_reload(registry, holder):
    registry.champion = version(1)
    first = holder.refresh()
    registry.champion = version(1, **{PROMOTION_TAG: {"at": "2025-01-01T00:00:00+00:00"}})
    assert holder.refresh().champion.promotion == {"at": "2025-01-01T00:00:00+00:00"}
    assert holder.served.model is first.model and registry.loads == [1]


@pytest.mark.parametrize("failure", ["fail_find", "fail_load"])
def test_a_failed_refresh_keeps_the_last_model_and_says_why(registry, holder, failure):
    registry.champion = version(1)
    holder.refresh()
    registry.champion = version(2)
    setattr(registry, failure, OSError("store unreachable"))
    assert holder.refresh().model == {"model": 1}
    assert holder.last_error == "OSError: store unreachable"
    setattr(registry, failure, None)
    assert holder.refresh().model == {"model": 2} and holder.last_error is None


def test_a_vanished_alias_keeps_the_last_champion(registry, holder):
    registry.champion = version(1)
    holder.refresh()
    registry.champion = None
    assert holder.refresh().model == {"model": 1}


def test_readers_do_not_wait_for_a_slow_load(registry):
    release = threading.Event()

    def slow_load(model_version):
        if model_version.version == 2:
            release.wait(10)
        return registry.load(model_version)

    holder = ModelHolder(registry.find, slow_load, refresh_seconds=60)
    registry.champion = version(1)
    holder.refresh()
    registry.champion = version(2)
    refreshing = threading.Thread(target=holder.refresh)
    refreshing.start()
    try:
        assert holder.served.model == {"model": 1}, "while version 2 loads, version 1 answers"
    finally:
        release.set()
        refreshing.join(10)
    assert holder.served.model == {"model": 2}


def test_the_background_thread_picks_up_a_promotion_until_stopped(registry, holder):
    registry.champion = version(1)
    holder.start()
    try:
        registry.champion = version(2)
        deadline = time.monotonic() + 5
        while holder.served.champion.version != 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert holder.served.champion.version == 2
    finally:
        holder.stop()
    registry.champion = version(3)
    time.sleep(4 * holder.refresh_seconds)
    assert holder.served.champion.version == 2, "a stopped holder checks no more"
