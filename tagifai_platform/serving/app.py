"""The champion over HTTP: ``POST /predict``, ``GET /health``, ``GET /model`` and ``GET /metrics``.

One app runs in each worker process (see :mod:`.server`). ``/predict`` is a coroutine that only
validates, queues its texts for the worker's :class:`~.batcher.Batcher` and waits: the model and
the prediction log run on that thread, never on the event loop, which stays free to accept,
refuse and time out other requests. A malformed request is refused (see :mod:`.schemas`) before
it reaches the model, an oversized or excess one before its body is read (see :mod:`.limits`).
"""

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tagifai_platform.registry import CHAMPION, MODEL_NAME
from tagifai_platform.serving import metrics
from tagifai_platform.serving.batcher import Batcher, NoChampion
from tagifai_platform.serving.limits import RETRY_AFTER_SECONDS, Admission, refusal
from tagifai_platform.serving.model_holder import ModelHolder
from tagifai_platform.serving.prediction_log import LogUnavailable, PredictionLog, log_path
from tagifai_platform.serving.protocol import DEADLINE_STATE
from tagifai_platform.serving.schemas import (
    PredictResponse,
    describe,
    is_json,
    max_body_bytes,
    predict_request,
)
from tagifai_platform.settings import Settings, load_settings

NO_CHAMPION = (
    "No champion model yet: run `make run` (or the end_to_end job) to train and promote one; "
    "the service picks it up without a restart."
)

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The service for the home and limits of ``settings``."""
    holder = ModelHolder.for_settings(
        settings, on_swap=lambda served: metrics.MODEL_VERSION.set(served.champion.version)
    )
    PredictRequest = predict_request(settings.serve_max_texts)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log = PredictionLog(log_path(settings))
        holder.start()
        batcher = Batcher(holder, log, settings.serve_max_texts)
        batcher.start()
        app.state.prediction_log, app.state.batcher = log, batcher
        try:
            # uvicorn hands this state to each connection's protocol, where the deadline applies.
            yield {DEADLINE_STATE: settings.serve_timeout_seconds}
        finally:
            holder.stop()
            batcher.stop()
            log.close()
            metrics.worker_stopped()

    app = FastAPI(
        title="tagifai", summary="Tags ML projects by their title and description.", lifespan=lifespan
    )
    app.add_middleware(
        Admission,
        max_concurrency=settings.serve_max_concurrency,
        max_body_bytes=max_body_bytes(settings.serve_max_texts),
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        if not is_json(request.headers.get("content-type", "")):
            # FastAPI does not parse other bodies, so the field errors below would only mislead.
            detail = "send the body as JSON with the header Content-Type: application/json"
            return refusal("invalid", 415, detail)
        errors = error.errors()
        problems = [describe(item) for item in errors]
        status = 400 if any(item["type"] == "json_invalid" for item in errors) else 422
        metrics.REFUSALS.labels("invalid").inc()
        return JSONResponse({"detail": "; ".join(problems), "problems": problems}, status_code=status)

    @app.post("/predict", response_model=PredictResponse)
    async def predict(body: PredictRequest, request: Request) -> Response:
        try:
            answer = await asyncio.wait_for(
                request.app.state.batcher.answer(body.texts), settings.serve_timeout_seconds
            )
        except NoChampion:
            return refusal("no_champion", 503, NO_CHAMPION)
        except LogUnavailable as error:  # an answer that cannot be logged is not given
            return refusal("log_unavailable", 503, str(error))
        except TimeoutError:
            return refusal(
                "answer_timeout",
                503,
                f"no answer within {settings.serve_timeout_seconds} s",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return Response(
            answer.body, media_type="application/json", headers={"X-Request-ID": answer.request_id}
        )

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        """200 when a request would be answered and logged; 503 naming what is missing otherwise."""
        served = holder.served
        try:
            # Off the event loop: the probe may wait for another worker's write to finish.
            await run_in_threadpool(request.app.state.prediction_log.probe)
            log_problem = None
        except LogUnavailable as error:
            log_problem = str(error)
        problems = [problem for problem in (None if served else NO_CHAMPION, log_problem) if problem]
        body = {
            "status": "ok" if not problems else "unavailable",
            "model_version": served.champion.version if served else None,
            "prediction_log": "unavailable" if log_problem else "ok",
            "checked_at": holder.checked_at.isoformat() if holder.checked_at else None,
            "refresh_seconds": holder.refresh_seconds,
            "last_error": holder.last_error,
        }
        if problems:
            body["detail"] = "; ".join(problems)
        return JSONResponse(body, status_code=503 if problems else 200)

    @app.get("/model")
    async def model() -> dict:
        served = holder.served
        if served is None:
            return refusal("no_champion", 503, NO_CHAMPION)
        version = served.champion
        promotion = version.promotion
        return {
            "name": MODEL_NAME,
            "version": version.version,
            "alias": CHAMPION,
            "promoted_at": promotion.get("at") if promotion else None,
            "promotion": promotion,
            "holdout_metrics": version.holdout_metrics,
            "run_id": version.run_id,
            "loaded_at": served.loaded_at.isoformat(),
        }

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process: its settings come from the environment, as ``tagifai serve``'s did."""
    import faulthandler

    # A worker killed by a signal (SIGBUS from a broken SQLite -shm file, say) leaves a traceback.
    faulthandler.enable()
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    serving_logger = logging.getLogger("tagifai_platform.serving")
    serving_logger.addHandler(handler)
    serving_logger.setLevel(logging.INFO)
    return create_app(load_settings())
