"""Starting and stopping the server: model checks, control plane, guard, engine, HTTP.

`serve(options, announce, stop)` returns when `stop()` returns (a signal in the CLI, an
event in tests), after the listener is closed, in-flight requests are finished or
cancelled, the engine is stopped and the audit log is flushed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from llmward.guard import Guard
from llmward.server.control_plane import ServerSettings, open_control_plane
from llmward.server.http_log import quiet_parser_errors
from llmward.server.inference import (
    InferenceService,
    ModelSlot,
    ServiceOptions,
    inference_handlers,
)
from llmward.server.metrics import ServerMetrics
from llmward.server.model_files import (
    DEFAULT_MODEL_ID,
    VerifiedModel,
    default_model_file,
    model_id_for,
    verify_model_file,
)
from llmward.server.model_routes import install_model_routes, model_handlers

log = logging.getLogger(__name__)

# HTTP parser bounds (aiohttp's RequestHandler): a request line or header line over
# 8 KiB, a header block of more than 128 fields, is refused before any handler runs.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
KEEPALIVE_SECONDS = 15
SHUTDOWN_SECONDS = 10


@dataclass(frozen=True)
class ServeOptions:
    data_dir: Path
    model: Path | None = None  # None: the embedded default model
    model_id: str | None = None
    sha256: str | None = None
    allow_unverified: bool = False
    config: Path | None = None
    guard_config: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080  # 0: any free port (tests)
    n_gpu_layers: int = 0
    n_ctx: int = 8192
    parallel: int = 4
    threads: int | None = None
    max_queue: int = 64
    models_dir: Path | None = None  # where POST /v1/models/load finds models, by name


def load_model(options: ServeOptions) -> VerifiedModel:
    """Verify the model to serve (blocking: call off the event loop)."""
    if options.model is None:
        path, published = default_model_file()
        return verify_model_file(path, model_id=options.model_id or DEFAULT_MODEL_ID,
                                 expected_sha256=published, verified_by="published digest",
                                 data_dir=options.data_dir)
    return verify_model_file(options.model, model_id=model_id_for(options.model,
                                                                  options.model_id),
                             expected_sha256=options.sha256, data_dir=options.data_dir,
                             allow_unverified=options.allow_unverified)


async def serve(options: ServeOptions, *, announce: Callable[[str, str | None], None],
                stop: Callable[[], Awaitable[None]]) -> None:
    quiet_parser_errors()  # aiohttp would log the bytes of a malformed header: a key, maybe
    settings = await asyncio.to_thread(ServerSettings.from_file, options.config)
    model = await asyncio.to_thread(load_model, options)
    guard = await asyncio.to_thread(
        lambda: Guard.from_config(options.guard_config) if options.guard_config
        else Guard.default())
    service_options = ServiceOptions(guard, n_ctx=options.n_ctx, parallel=options.parallel,
                                     n_gpu_layers=options.n_gpu_layers,
                                     threads=options.threads, max_queue=options.max_queue)
    metrics = ServerMetrics()
    async with await open_control_plane(options.data_dir, settings) as plane:
        service = await InferenceService.start(model, guard, metrics, service_options)
        slot: ModelSlot | None = None
        try:
            app = plane.build_app(extra_handlers={**inference_handlers(), **model_handlers()},
                                  metrics=metrics)
            slot = install_model_routes(app, service, metrics, service_options,
                                        options.models_dir)
            runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                   max_line_size=MAX_LINE_BYTES, max_field_size=MAX_LINE_BYTES,
                                   max_headers=MAX_HEADERS, keepalive_timeout=KEEPALIVE_SECONDS,
                                   shutdown_timeout=SHUTDOWN_SECONDS)
            await runner.setup()
            try:
                site = web.TCPSite(runner, options.host, options.port)
                await site.start()
                host, port = _bound_address(runner, options)
                announce(f"http://{host}:{port}", plane.bootstrap_key)
                await stop()
            finally:
                await runner.cleanup()
        finally:
            current = slot.service if slot is not None else service
            if current is not None:
                await current.close()


def _bound_address(runner: web.AppRunner, options: ServeOptions) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            host = f"[{address[0]}]" if ":" in str(address[0]) else str(address[0])
            return host, int(address[1])
    return options.host, options.port
