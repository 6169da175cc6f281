"""Audit records that handlers write themselves: administrative actions and model events.

The acting principal comes from the request (set by the auth middleware); the request's
own record is written by `audit_middleware`. Without an audit log on the app these are
no-ops, so handlers need not check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web

from llmward.audit.events import Scalar, admin_action
from llmward.audit.writer import AuditWriteError
from llmward.ratelimit.middleware import PRINCIPAL_KEY
from llmward.server.audit_middleware import REQUEST_ID_KEY
from llmward.server.state import AUDIT_KEY

log = logging.getLogger(__name__)


async def audit_admin(request: web.Request, action: str, result: str, *,
                      target: str | None = None,
                      detail: Mapping[str, Scalar] | None = None) -> None:
    """Record an administrative action by the request's principal. `target` is hashed in
    clear: pass ids (a key id), never personal data."""
    audit = request.app.get(AUDIT_KEY)
    if audit is None:
        return
    principal = request.get(PRINCIPAL_KEY)
    request_id = request.get(REQUEST_ID_KEY)
    details: dict[str, Scalar] = dict(detail or {})
    if request_id is not None:
        details["request_id"] = request_id
    event = admin_action(action=action, result=result, target=target,
                         user=principal.user if principal else None,
                         key_id=principal.key_id if principal else None,
                         role=principal.role if principal else None, detail=details)
    try:
        await audit.log(event)
    except (AuditWriteError, RuntimeError) as error:
        # The request's own record (audit_middleware) fails the same way and turns the
        # response into a 503; here the action has already happened.
        log.error("audit record of %s not written: %s", action, error)
