"""Answering together: waiting requests share one model call and one log transaction, and each gets
its own answer, or the round's error."""

import asyncio
import json
import threading

import numpy as np
import pytest

from tagifai_platform.registry import ModelVersion
from tagifai_platform.serving.batcher import Batcher, NoChampion
from tagifai_platform.serving.model_holder import Served
from tagifai_platform.serving.prediction_log import LogUnavailable


class Model:
    """Tags a text by its first word; counts calls, and blocks the first until released."""

    classes_ = np.array(["computer-vision", "mlops"])
    threshold = 0.0

    def __init__(self):
        self.calls: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_proba(self, texts):
        if not self.entered.is_set():
            self.entered.set()
            self.release.wait(10)
        self.calls.append(len(texts))
        return np.array([[1.0, 0.0] if text.startswith("vision") else [0.0, 1.0] for text in texts])


class Log:
    def __init__(self):
        self.transactions: list[list[tuple[str, list[str]]]] = []
        self.fail: Exception | None = None

    def append_many(self, model_version, requests):
        if self.fail:
            raise self.fail
        self.transactions.append([(rid, [p["text"] for p in answers]) for rid, answers in requests])


class Holder:
    def __init__(self, model):
        self.served = Served(ModelVersion(7, "run", "models:/m", {}), model, None) if model else None


@pytest.fixture
def log():
    return Log()


def run(holder, log, requests, max_round_texts=100):
    batcher = Batcher(holder, log, max_round_texts)
    batcher.start()
    try:

        async def scenario():
            first = asyncio.ensure_future(batcher.answer(requests[0]))
            if holder.served:  # the others queue while the model answers the first
                await asyncio.get_running_loop().run_in_executor(None, holder.served.model.entered.wait, 10)
            rest = [asyncio.ensure_future(batcher.answer(texts)) for texts in requests[1:]]
            await asyncio.sleep(0.1)
            if holder.served:
                holder.served.model.release.set()
            return await asyncio.gather(first, *rest, return_exceptions=True)

        return asyncio.run(scenario())
    finally:
        batcher.stop()


def test_requests_waiting_together_share_one_model_call_and_one_log_transaction(log):
    model = Model()
    requests = [["vision 0"]] + [[f"vision {n}", f"ops {n}"] for n in range(1, 6)]
    answers = run(Holder(model), log, requests)
    assert model.calls == [1, 10], "the first alone, the five that queued behind it together"
    assert [len(transaction) for transaction in log.transactions] == [1, 5]
    for texts, answer in zip(requests, answers, strict=True):
        body = json.loads(answer.body)
        assert body["request_id"] == answer.request_id and body["model_version"] == 7
        assert [p["tag"] for p in body["predictions"]] == [
            "computer-vision" if text.startswith("vision") else "mlops" for text in texts
        ]
    logged = {rid: texts for transaction in log.transactions for rid, texts in transaction}
    assert logged == {answer.request_id: texts for texts, answer in zip(requests, answers, strict=True)}


def test_a_round_takes_no_more_texts_than_its_limit_beyond_one_request(log):
    model = Model()
    answers = run(Holder(model), log, [["vision"]] + [["ops"] * 3] * 4, max_round_texts=6)
    assert model.calls == [1, 6, 6] and all(not isinstance(answer, Exception) for answer in answers)


def test_without_a_champion_every_request_is_told_so(log):
    answers = run(Holder(None), log, [["vision"], ["ops"]])
    assert all(isinstance(answer, NoChampion) for answer in answers) and not log.transactions


def test_when_the_log_refuses_no_answer_is_given(log):
    log.fail = LogUnavailable("disk full")
    answers = run(Holder(Model()), log, [["vision"], ["ops"], ["ops"]])
    assert all(isinstance(answer, LogUnavailable) for answer in answers)
