"""GDPR tooling (issue 6): the processing log with purposes and legal bases, opt-in storage
of prompts and responses encrypted per user, erasure by crypto-shredding, export, and
retention. See README "GDPR" and ARCHITECTURE "GDPR"."""

from __future__ import annotations

from llmward.gdpr.config import LEGAL_BASES, GdprConfig, Purpose
from llmward.gdpr.erasure import ErasureIncomplete, erase_user_everywhere, export_user_everywhere
from llmward.gdpr.files import GdprStoreError
from llmward.gdpr.records import ErasureReport, ProcessingEntry, StoredMessage
from llmward.gdpr.store import GdprStore, open_gdpr_store, store_path

__all__ = [
    "LEGAL_BASES", "ErasureIncomplete", "ErasureReport", "GdprConfig", "GdprStore",
    "GdprStoreError", "ProcessingEntry", "Purpose", "StoredMessage", "erase_user_everywhere",
    "export_user_everywhere", "open_gdpr_store", "store_path",
]
