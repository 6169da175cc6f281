"""The typed keys under which the server's application holds its shared state.

One module so handlers in different files reach the same objects without importing
each other. Optional components (audit log, GDPR store) are absent from the app when
not configured: read them with `app.get(KEY)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from llmward.auth.keys import KeyStore
from llmward.auth.rbac import Rbac

if TYPE_CHECKING:
    from llmward.audit.writer import AuditLog
    from llmward.gdpr.store import GdprStore

STORE_KEY = web.AppKey("llmward.key_store", KeyStore)
RBAC_KEY = web.AppKey("llmward.rbac", Rbac)
AUDIT_KEY: web.AppKey[AuditLog] = web.AppKey("llmward.audit_log")
GDPR_KEY: web.AppKey[GdprStore] = web.AppKey("llmward.gdpr_store")
