"""`/v1/models` (list, load, unload) and `/metrics`.

Models load only from the models directory given at start (`--models-dir`), by name:
`{"model": "NAME"}` means `<models dir>/NAME.gguf`, with the name checked before any path
is built, so no request can point the server at another file. The file is verified like
the one served at start (a manifest in the models directory, GGUF header, template)
before the engine is swapped; a refusal is answered 400 and audited. Unload takes no body
(or `{}`: whatever is loaded) or `{"model": NAME}`, checked alike and refused with 404
unless NAME is the loaded model. The listing never shows a path.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from llmward.audit.events import model_event
from llmward.ratelimit.middleware import PRINCIPAL_KEY
from llmward.server.audit_hooks import audit_admin
from llmward.server.inference import (
    INFERENCE_KEY,
    InferenceService,
    ModelSlot,
    ServiceOptions,
)
from llmward.server.metrics import CONTENT_TYPE, ServerMetrics
from llmward.server.model_files import ModelRefused, verify_model_file
from llmward.server.openai_errors import openai_error
from llmward.server.openai_request import RequestError, parse_json, read_json_body
from llmward.server.openai_response import model_list
from llmward.server.request_body import BodyRefused, read_body
from llmward.server.routes import RouteId
from llmward.server.state import AUDIT_KEY

MODELS_DIR_KEY = web.AppKey("llmward.models_dir", Path)
METRICS_KEY = web.AppKey("llmward.metrics", ServerMetrics)
OPTIONS_KEY = web.AppKey("llmward.service_options", ServiceOptions)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SWAP_LOCK = web.AppKey("llmward.model_swap_lock", asyncio.Lock)
MAX_BODY = 4096


def model_handlers() -> dict[RouteId, Any]:
    return {("GET", "/v1/models"): list_models, ("POST", "/v1/models/load"): load_model,
            ("POST", "/v1/models/unload"): unload_model, ("GET", "/metrics"): metrics}


def install_model_routes(app: web.Application, service: InferenceService | None,
                         metrics: ServerMetrics, options: ServiceOptions,
                         models_dir: Path | None) -> ModelSlot:
    slot = app[INFERENCE_KEY] = ModelSlot(service)
    app[METRICS_KEY] = metrics
    app[OPTIONS_KEY] = options
    app[_SWAP_LOCK] = asyncio.Lock()
    if models_dir is not None:
        app[MODELS_DIR_KEY] = models_dir
    return slot


async def list_models(request: web.Request) -> web.Response:
    service = request.app[INFERENCE_KEY].service
    models = [(service.model.model_id, service.created)] if service is not None else []
    return web.json_response(model_list(models))


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS_KEY]
    service = request.app[INFERENCE_KEY].service
    stats = service.stats() if service is not None else {}
    registry.queue_depth.set(float(stats.get("queue_depth", 0)))
    registry.active_sequences.set(float(stats.get("active_sequences", 0)))
    return web.Response(body=registry.render().encode(), headers={"Content-Type": CONTENT_TYPE})


async def load_model(request: web.Request) -> web.Response:
    try:
        body = await read_json_body(request, MAX_BODY)
        name = _model_name(body)
    except RequestError as error:
        return error.response()
    directory = request.app.get(MODELS_DIR_KEY)
    if directory is None:
        return openai_error(400, "This server has no models directory (--models-dir): it "
                            "serves only the model it started with.",
                            type="invalid_request_error", code="no_models_directory",
                            param="model")
    path = directory / f"{name}.gguf"
    async with request.app[_SWAP_LOCK]:
        try:
            model = await asyncio.to_thread(verify_model_file, path, model_id=name,
                                            data_dir=None)
        except ModelRefused as refused:
            await _audit_model(request, "verify", name, f"refused: {refused}")
            await audit_admin(request, "model.load", "refused", target=name)
            return openai_error(400, f"Model {name!r} refused: {refused}",
                                type="invalid_request_error", code="model_refused",
                                param="model")
        await _audit_model(request, "verify", name, f"ok ({model.verified_by})")
        slot, options = request.app[INFERENCE_KEY], request.app[OPTIONS_KEY]
        old, slot.service = slot.service, None
        if old is not None:  # one model at a time: its memory is freed before the next
            await old.close()
        slot.service = await InferenceService.start(model, options.guard,
                                                    request.app[METRICS_KEY], options)
    await _audit_model(request, "load", name, "ok")
    await audit_admin(request, "model.load", "ok", target=name)
    return web.json_response({"object": "model", "id": name, "status": "loaded"})


async def unload_model(request: web.Request) -> web.Response:
    try:
        name = await _unload_name(request)
    except RequestError as error:
        return error.response()
    async with request.app[_SWAP_LOCK]:
        slot = request.app[INFERENCE_KEY]
        if name is not None and (slot.service is None or slot.service.model.model_id != name):
            return openai_error(404, f"Model {name!r} is not loaded.",
                                type="invalid_request_error", code="model_not_loaded",
                                param="model")
        service, slot.service = slot.service, None
        if service is None:
            return openai_error(404, "No model is loaded.", type="invalid_request_error",
                                code="model_not_loaded")
        await service.close()
    await _audit_model(request, "unload", service.model.model_id, "ok")
    await audit_admin(request, "model.unload", "ok", target=service.model.model_id)
    return web.json_response({"object": "model", "id": service.model.model_id,
                              "status": "unloaded"})


async def _unload_name(request: web.Request) -> str | None:
    """No body or `{}`: whatever is loaded (None); else `{"model": NAME}`."""
    try:
        data = await read_body(request, MAX_BODY)
    except BodyRefused as refused:
        raise RequestError(refused.message, status=refused.status, code=refused.code) from None
    body = parse_json(data) if data.strip() else {}
    return _model_name(body) if body != {} else None


def _model_name(body: object) -> str:
    if not isinstance(body, dict) or set(body) != {"model"}:
        raise RequestError("expected {\"model\": \"NAME\"}", "model")
    name = body["model"]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RequestError("model: a name of letters, digits and ._- (no path)", "model")
    return name


async def _audit_model(request: web.Request, action: str, name: str, result: str) -> None:
    audit = request.app.get(AUDIT_KEY)
    if audit is None:
        return
    principal = request.get(PRINCIPAL_KEY)
    await audit.log(model_event(action=action, model=name, result=result,
                                key_id=principal.key_id if principal else None,
                                user=principal.user if principal else None))
