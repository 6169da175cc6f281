"""Secrets from environment variables.

A secret ``name`` is read from ``LLMWARD_SECRET_<NAME>``, where ``<NAME>`` is the name upper-cased
with every character other than A-Z and 0-9 replaced by ``_`` (``db-password`` ->
``LLMWARD_SECRET_DB_PASSWORD``). An explicit map (``{"hf_token": "HF_TOKEN"}``) names the variable
for a secret instead, for variables other software already defines. An empty variable is a miss:
an empty secret is almost always a deployment mistake.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import Miss
from .value import SecretValue

DEFAULT_PREFIX = "LLMWARD_SECRET_"
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")


def env_var_name(name: str, prefix: str = DEFAULT_PREFIX) -> str:
    return prefix + _NOT_ALNUM.sub("_", name.upper())


class EnvSource:
    def __init__(
        self,
        mapping: Mapping[str, str] | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._mapping = dict(mapping or {})
        self._prefix = prefix
        # None: read os.environ at lookup time, so a later export is seen.
        self._environ = environ

    def lookup(self, name: str) -> SecretValue | Miss:
        var = self._mapping.get(name) or env_var_name(name, self._prefix)
        environ = os.environ if self._environ is None else self._environ
        label = f"environment ({var})"
        value = environ.get(var)
        if value is None:
            return Miss(label, "not set")
        if value == "":
            return Miss(label, "set but empty")
        return SecretValue(name, value, "environment")
