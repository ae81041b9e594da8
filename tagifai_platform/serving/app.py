"""The champion over HTTP: ``POST /predict``, ``GET /health`` and ``GET /model``.

``/predict`` is a plain ``def`` so that FastAPI runs it on its thread pool: scikit-learn and
SQLite block, and on the event loop they would stall every other request. A malformed request
is refused (see :mod:`.schemas`) before it reaches the model, so none can take the service down.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tagifai_platform.registry import CHAMPION, MODEL_NAME
from tagifai_platform.serving.model_holder import ModelHolder
from tagifai_platform.serving.prediction_log import PredictionLog, log_path
from tagifai_platform.serving.schemas import (
    MAX_BODY_BYTES,
    PredictRequest,
    PredictResponse,
    describe,
    is_json,
)
from tagifai_platform.settings import Settings

NO_CHAMPION = (
    "No champion model yet: run `make run` (or the end_to_end job) to train and promote one; "
    "the service picks it up without a restart."
)


class BodyLimit:
    """Refuse a body declared larger than any valid request before it is read into memory."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if length.isdigit() and int(length) > self.max_bytes:
                detail = f"the body is {int(length)} bytes; the limit is {self.max_bytes}"
                await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings, refresh: float | None = None) -> FastAPI:
    """The service for the home of ``settings``; ``refresh`` overrides how often the alias is checked."""
    from tagifai_platform.ml.model import predict as predict_texts

    holder = ModelHolder.for_settings(
        settings, refresh if refresh is not None else settings.serve_refresh_seconds
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.prediction_log = PredictionLog(log_path(settings))
        holder.start()
        try:
            yield
        finally:
            holder.stop()
            app.state.prediction_log.close()

    app = FastAPI(
        title="tagifai", summary="Tags ML projects by their title and description.", lifespan=lifespan
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        if not is_json(request.headers.get("content-type", "")):
            # FastAPI does not parse other bodies, so the field errors below would only mislead.
            detail = "send the body as JSON with the header Content-Type: application/json"
            return JSONResponse({"detail": detail, "problems": [detail]}, status_code=415)
        errors = error.errors()
        problems = [describe(item) for item in errors]
        status = 400 if any(item["type"] == "json_invalid" for item in errors) else 422
        return JSONResponse({"detail": "; ".join(problems), "problems": problems}, status_code=status)

    @app.post("/predict", response_model=PredictResponse)
    def predict(body: PredictRequest, request: Request, response: Response) -> dict:
        served = holder.served  # this request's model, whatever a refresh does meanwhile
        if served is None:
            raise HTTPException(503, NO_CHAMPION)
        answers = predict_texts(served.model, body.texts)
        request_id = uuid.uuid4().hex
        try:
            request.app.state.prediction_log.append(request_id, served.champion.version, answers)
        except sqlite3.Error as error:  # an answer that cannot be logged is not given
            raise HTTPException(503, f"the prediction log is unavailable: {error}") from error
        response.headers["X-Request-ID"] = request_id
        return {
            "request_id": request_id,
            "model_version": served.champion.version,
            "predictions": [
                {
                    "tag": answer["tag"],
                    "confidence": max(answer["probabilities"].values()),
                    "probabilities": answer["probabilities"],
                }
                for answer in answers
            ],
        }

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 when a champion is being served, 503 (with the reason) when none can be."""
        served = holder.served
        body = {
            "status": "ok" if served else "no_champion",
            "model_version": served.champion.version if served else None,
            "checked_at": holder.checked_at.isoformat() if holder.checked_at else None,
            "refresh_seconds": holder.refresh_seconds,
            "last_error": holder.last_error,
        }
        if served is None:
            body["detail"] = NO_CHAMPION
        return JSONResponse(body, status_code=200 if served else 503)

    @app.get("/model")
    async def model() -> dict:
        served = holder.served
        if served is None:
            raise HTTPException(503, NO_CHAMPION)
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

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service until interrupted; uvicorn finishes the requests in flight on SIGINT/SIGTERM."""
    import uvicorn

    # uvicorn configures only its own loggers; the model swaps belong next to its lines.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    serving_logger = logging.getLogger("tagifai_platform.serving")
    serving_logger.addHandler(handler)
    serving_logger.setLevel(logging.INFO)
    uvicorn.run(create_app(settings), host=host, port=port)
