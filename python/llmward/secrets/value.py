"""A secret's value, wrapped so it cannot leak through repr, str, format, logging or pickle."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

MASK = "****"


class SecretValue:
    """Holds one secret. Every way Python turns an object into text shows ``SecretValue('name',
    ****)``; only :meth:`reveal` returns the value. Pickling is refused (it would write the value
    somewhere we do not control) and the object is unhashable (a hash is derived from the value)."""

    __slots__ = ("_name", "_value", "_source")

    def __init__(self, name: str, value: str, source: str = "") -> None:
        self._name = name
        self._value = value
        self._source = source

    @property
    def name(self) -> str:
        return self._name

    @property
    def source(self) -> str:
        """Which source supplied it (for diagnostics: "environment", "file", "vault")."""
        return self._source

    def reveal(self) -> str:
        return self._value

    def reveal_bytes(self) -> bytes:
        return self._value.encode("utf-8")

    def equals(self, other: str | bytes | SecretValue) -> bool:
        """Constant-time comparison (timing does not tell how many leading bytes matched)."""
        if isinstance(other, SecretValue):
            other = other._value
        if isinstance(other, str):
            other = other.encode("utf-8")
        return hmac.compare_digest(self._value.encode("utf-8"), other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (str, bytes, SecretValue)):
            return self.equals(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SecretValue({self._name!r}, {MASK})"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    # Immutable, so copies may share it; defined because copy otherwise goes through pickling.
    def __copy__(self) -> SecretValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretValue:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled; pass the secret's name instead")

    def __reduce__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled; pass the secret's name instead")
