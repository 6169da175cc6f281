"""Authentication and authorization: API keys (`keys`), roles and permissions (`rbac`), the
HTTP middleware (`middleware`)."""

from llmward.auth.key_bootstrap import bootstrap_admin_key
from llmward.auth.key_files import KeyStoreError
from llmward.auth.key_validate import DEFAULT_ROLES, KeyInputError
from llmward.auth.keys import KeyRecord, KeyStore, SqliteKeyStore, open_key_store

__all__ = ["DEFAULT_ROLES", "KeyInputError", "KeyRecord", "KeyStore", "KeyStoreError",
           "SqliteKeyStore", "bootstrap_admin_key", "open_key_store"]
