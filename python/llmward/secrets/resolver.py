"""Resolve a secret by asking an ordered list of sources; the first that has it wins."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence

from .errors import Miss, SecretNotFound, SecretsMissing
from .source import SecretSource
from .value import SecretValue

log = logging.getLogger(__name__)


class SecretResolver:
    def __init__(self, sources: Sequence[SecretSource]) -> None:
        self._sources = tuple(sources)

    @property
    def sources(self) -> tuple[SecretSource, ...]:
        return self._sources

    def get(self, name: str) -> SecretValue:
        """The secret from the first source that has it; SecretNotFound listing every source
        tried, and why each missed, otherwise. Sources re-read changed files and expired caches,
        so calling this again returns a rotated value."""
        misses: list[Miss] = []
        for source in self._sources:
            found = source.lookup(name)
            if isinstance(found, SecretValue):
                log.debug("secret %r resolved from %s", name, found.source)
                return found
            misses.append(found)
        raise SecretNotFound(name, misses)

    def require(self, names: Iterable[str]) -> dict[str, SecretValue]:
        """Resolve every name at startup; one SecretsMissing naming all that are missing."""
        found: dict[str, SecretValue] = {}
        errors: list[SecretNotFound] = []
        for name in names:
            try:
                found[name] = self.get(name)
            except SecretNotFound as e:
                errors.append(e)
        if errors:
            raise SecretsMissing(errors)
        return found


_default: SecretResolver | None = None
_default_lock = threading.Lock()


def set_default_resolver(resolver: SecretResolver | None) -> None:
    """Install the resolver secret() uses; None goes back to one built from the environment."""
    global _default
    with _default_lock:
        _default = resolver


def default_resolver() -> SecretResolver:
    global _default
    with _default_lock:
        if _default is None:
            from .config import resolver_from_env

            _default = resolver_from_env()
        return _default


def secret(name: str) -> SecretValue:
    """The secret ``name`` from the default resolver (environment, then files, then Vault when
    VAULT_ADDR is set). Raises SecretNotFound naming the sources tried."""
    return default_resolver().get(name)
