"""Answering requests together: one model call and one log transaction for all that are waiting.

A call to the model costs about 2 ms however few texts it gets (scikit-learn's checks, the
feature union) and a fraction of that per text, so a worker that answered each request on its
own would top out near 400 single-text requests per second. Here one thread per worker takes
every request queued since its last round, predicts all their texts in one call, writes all
their rows to the prediction log in one transaction and only then hands each request its answer.
When requests arrive one at a time nothing waits for company: a lone request is answered at
once, and rounds grow only when requests queue up anyway. The event loop never runs the model,
so it keeps accepting, refusing and timing out requests while a round runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

from tagifai_platform.serving import metrics
from tagifai_platform.serving.model_holder import ModelHolder
from tagifai_platform.serving.prediction_log import LogUnavailable, PredictionLog

logger = logging.getLogger(__name__)


class NoChampion(Exception):
    """No model to answer with yet."""


@dataclass
class _Request:
    texts: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Answer:
    request_id: str
    model_version: int
    body: bytes  # the JSON response, encoded in the batch thread rather than on the event loop


class Batcher:
    def __init__(self, holder: ModelHolder, log: PredictionLog, max_round_texts: int):
        from tagifai_platform.ml.model import predict

        self._predict = predict
        self._holder = holder
        self._log = log
        self._max_round_texts = max_round_texts
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="answer-batches", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Answer what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    async def answer(self, texts: list[str]) -> Answer:
        """The answer to ``texts``, once it is in the prediction log.

        Raises :class:`NoChampion`, :class:`LogUnavailable` or whatever the model raised.
        """
        loop = asyncio.get_running_loop()
        request = _Request(texts, loop, loop.create_future())
        self._queue.put(request)
        return await request.future

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            round_ = [first]
            texts = len(first.texts)
            while texts < self._max_round_texts:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:  # stopping: answer this round, then leave
                    self._queue.put(None)
                    break
                round_.append(waiting)
                texts += len(waiting.texts)
            self._answer_round(round_)

    def _answer_round(self, round_: list[_Request]) -> None:
        try:
            answers = self._answers(round_)
        except Exception as error:  # every request of the round gets the error, the thread carries on
            if not isinstance(error, NoChampion | LogUnavailable):
                logger.exception("Answering %d requests failed", len(round_))
            for request in round_:
                request.loop.call_soon_threadsafe(_settle, request.future, None, error)
            return
        for request, answer in zip(round_, answers, strict=True):
            request.loop.call_soon_threadsafe(_settle, request.future, answer, None)

    def _answers(self, round_: list[_Request]) -> list[Answer]:
        served = self._holder.served  # one model for the whole round, whatever a refresh does meanwhile
        if served is None:
            raise NoChampion()
        version = served.champion.version
        predictions = self._predict(served.model, [text for request in round_ for text in request.texts])
        per_request, start = [], 0
        for request in round_:
            per_request.append(predictions[start : start + len(request.texts)])
            start += len(request.texts)
        self._log.append_many(version, zip((r.request_id for r in round_), per_request, strict=True))
        metrics.BATCH_TEXTS.observe(len(predictions))
        for tag, count in Counter(prediction["tag"] for prediction in predictions).items():
            metrics.PREDICTIONS.labels(tag, str(version)).inc(count)
        return [
            Answer(request.request_id, version, _response_body(request.request_id, version, answers))
            for request, answers in zip(round_, per_request, strict=True)
        ]


def _response_body(request_id: str, version: int, predictions: list[dict]) -> bytes:
    return json.dumps(
        {
            "request_id": request_id,
            "model_version": version,
            "predictions": [
                {
                    "tag": prediction["tag"],
                    "confidence": max(prediction["probabilities"].values()),
                    "probabilities": prediction["probabilities"],
                }
                for prediction in predictions
            ],
        }
    ).encode()


def _settle(future: asyncio.Future, answer: Answer | None, error: BaseException | None) -> None:
    if future.done():  # the request timed out or its client left; its rows are logged all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answer)
