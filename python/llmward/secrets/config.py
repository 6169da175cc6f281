"""Build the default resolver from environment variables.

Order: environment, then files, then Vault (only when ``VAULT_ADDR`` is set).

- ``LLMWARD_SECRETS_DIRS``: directories searched for ``<dir>/<name>``, separated by ``:``
  (os.pathsep); default ``/run/secrets``. Point it at a Kubernetes secret volume's mount path.
- ``LLMWARD_SECRETS_STRICT_PERMISSIONS=1``: refuse secret files readable by group or others.
- ``VAULT_ADDR`` (https:// required unless ``LLMWARD_VAULT_ALLOW_HTTP=1``), ``VAULT_NAMESPACE``,
  ``VAULT_CACERT`` (CA bundle file), ``VAULT_CLIENT_TIMEOUT`` (seconds, default 5).
- Auth: ``VAULT_TOKEN``, or ``VAULT_TOKEN_FILE``, or ``LLMWARD_VAULT_K8S_ROLE`` (with
  ``LLMWARD_VAULT_K8S_MOUNT``, default ``kubernetes``, and ``LLMWARD_VAULT_K8S_JWT_PATH``,
  default the pod's service-account token).
- ``LLMWARD_VAULT_MOUNT`` (KV v2 mount, default ``secret``), ``LLMWARD_VAULT_PATH`` (path prefix,
  default ``llmward``), ``LLMWARD_VAULT_CACHE_TTL`` (seconds, default 300).

VAULT_SKIP_VERIFY is deliberately not honoured: TLS verification can be turned off only in code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .env_source import EnvSource
from .file_source import DOCKER_SECRETS_DIR, FileSource
from .resolver import SecretResolver
from .source import SecretSource
from .vault_auth import K8S_JWT_PATH, KubernetesAuth, TokenAuth, VaultAuth
from .vault_http import DEFAULT_TIMEOUT_S, VaultHttp
from .vault_session import VaultSession
from .vault_source import DEFAULT_CACHE_TTL_S, VaultSource


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def vault_auth_from_env(env: Mapping[str, str]) -> VaultAuth:
    if env.get("VAULT_TOKEN"):
        return TokenAuth(env["VAULT_TOKEN"])
    if env.get("VAULT_TOKEN_FILE"):
        return TokenAuth(token_file=env["VAULT_TOKEN_FILE"])
    if env.get("LLMWARD_VAULT_K8S_ROLE"):
        return KubernetesAuth(
            env["LLMWARD_VAULT_K8S_ROLE"],
            jwt_path=env.get("LLMWARD_VAULT_K8S_JWT_PATH") or K8S_JWT_PATH,
            mount=env.get("LLMWARD_VAULT_K8S_MOUNT") or "kubernetes",
        )
    raise ValueError(
        "VAULT_ADDR is set but no Vault auth is: set VAULT_TOKEN, VAULT_TOKEN_FILE "
        "or LLMWARD_VAULT_K8S_ROLE"
    )


def resolver_from_env(env: Mapping[str, str] | None = None) -> SecretResolver:
    env = os.environ if env is None else env
    dirs_raw = env.get("LLMWARD_SECRETS_DIRS")
    dirs = [d for d in dirs_raw.split(os.pathsep) if d] if dirs_raw else [str(DOCKER_SECRETS_DIR)]
    sources: list[SecretSource] = [
        EnvSource(),
        FileSource(dirs, strict_permissions=_flag(env, "LLMWARD_SECRETS_STRICT_PERMISSIONS")),
    ]
    if env.get("VAULT_ADDR"):
        http = VaultHttp(
            env["VAULT_ADDR"],
            namespace=env.get("VAULT_NAMESPACE") or None,
            ca_file=env.get("VAULT_CACERT") or None,
            allow_http=_flag(env, "LLMWARD_VAULT_ALLOW_HTTP"),
            timeout_s=_float(env, "VAULT_CLIENT_TIMEOUT", DEFAULT_TIMEOUT_S),
        )
        sources.append(
            VaultSource(
                VaultSession(http, vault_auth_from_env(env)),
                mount=env.get("LLMWARD_VAULT_MOUNT") or "secret",
                path_prefix=env.get("LLMWARD_VAULT_PATH", "llmward"),
                cache_ttl_s=_float(env, "LLMWARD_VAULT_CACHE_TTL", DEFAULT_CACHE_TTL_S),
            )
        )
    return SecretResolver(sources)
