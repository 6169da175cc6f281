"""`/v1/admin/users/{user_id}`: GDPR erasure (DELETE) and export (GET .../export) over
HTTP (permission `user:manage`, enforced by the auth middleware from `routes`).

Both run the same code as `llmward gdpr erase|export` (`llmward.gdpr.erasure`) on a
worker thread: SQLite and file reads must not block the event loop. The erasure's audit
step runs inside the audit writer (`AuditLog.exclusive`), which has the log closed while
the files are rewritten and reopens it after, so the server need not stop.

Each action is recorded in the audit log as an admin action (`user.erase`,
`user.export`) by the acting key, with counts but without the subject's id: after an
erasure, a record naming the user would undo it. Both answer 200 with a report, also when
nothing was held about the user (erasure is idempotent); 503 when the server has no
GDPR store.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from llmward.audit import erase_user
from llmward.audit.writer import AuditLog
from llmward.gdpr.erasure import (
    AuditEraser,
    ErasureIncomplete,
    erase_user_everywhere,
    erasure_counts,
    export_user_everywhere,
)
from llmward.gdpr.inputs import check_user
from llmward.server.audit_hooks import audit_admin
from llmward.server.openai_errors import openai_error
from llmward.server.routes import RouteId
from llmward.server.state import AUDIT_KEY, GDPR_KEY, STORE_KEY

log = logging.getLogger(__name__)


def handlers() -> dict[RouteId, Any]:
    return {
        ("DELETE", "/v1/admin/users/{user_id}"): erase_user_route,
        ("GET", "/v1/admin/users/{user_id}/export"): export_user_route,
    }


async def erase_user_route(request: web.Request) -> web.Response:
    user, refused = _target(request)
    if refused is not None:
        return refused
    gdpr, audit = request.app[GDPR_KEY], request.app.get(AUDIT_KEY)
    audit_erase = None if audit is None else _exclusive_eraser(audit,
                                                               asyncio.get_running_loop())
    try:
        report = await asyncio.to_thread(erase_user_everywhere, user,
                                         key_store=request.app[STORE_KEY], gdpr=gdpr,
                                         audit_erase=audit_erase)
    except ErasureIncomplete as error:
        log.error("user erasure incomplete: %s", error)
        await audit_admin(request, "user.erase", f"failed: {error.step} step",
                          detail=erasure_counts(error.report))
        return openai_error(500, f"The erasure stopped at its {error.step} step; the steps "
                            "before it are done. Retry the request to complete it.",
                            type="server_error", code="erasure_incomplete")
    await audit_admin(request, "user.erase", "ok", detail=erasure_counts(report))
    return web.json_response(report, headers={"Cache-Control": "no-store"})


async def export_user_route(request: web.Request) -> web.Response:
    user, refused = _target(request)
    if refused is not None:
        return refused
    audit = request.app.get(AUDIT_KEY)
    export = await asyncio.to_thread(export_user_everywhere, user,
                                     key_store=request.app[STORE_KEY],
                                     gdpr=request.app[GDPR_KEY],
                                     audit_dir=None if audit is None else audit.directory)
    stored = export["stored_data"] or {}
    await audit_admin(request, "user.export", "ok", detail={
        "api_keys": len(export["api_keys"]),
        "conversations": len(stored.get("conversations", [])),
        "processing_entries": len(stored.get("processing", [])),
        "audit_records": len(export["audit_records"])})
    return web.json_response(export, headers={"Cache-Control": "no-store"})


def _target(request: web.Request) -> tuple[str, web.Response | None]:
    """The path's user id, or the response refusing the request."""
    if request.app.get(GDPR_KEY) is None:
        return "", openai_error(503, "GDPR tooling is not enabled on this server (no GDPR "
                                "store).", type="server_error", code="gdpr_unavailable")
    try:
        return check_user(request.match_info["user_id"]), None
    except ValueError as error:
        return "", openai_error(400, f"user_id: {str(error).split(': ', 1)[-1]}",
                                type="invalid_request_error", param="user_id")


def _exclusive_eraser(audit: AuditLog, loop: asyncio.AbstractEventLoop) -> AuditEraser:
    """The audit step for a worker thread: redact inside the audit writer, after every
    record queued before it, and wait for the result."""
    def erase(user: str) -> int:
        future = asyncio.run_coroutine_threadsafe(
            audit.exclusive(lambda directory: erase_user(directory, user)), loop)
        return int(future.result())
    return erase
