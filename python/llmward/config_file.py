"""Reading llmward's TOML configuration files: bounded in size, strict UTF-8, and every error
a ValueError that names the file. Each component reads its own tables from the document."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

MAX_CONFIG_BYTES = 4 * 1024 * 1024


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed document; ValueError (prefixed with the path) for a file over
    MAX_CONFIG_BYTES, invalid UTF-8 or invalid TOML."""
    source = Path(path)
    with source.open("rb") as f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValueError(f"{source}: configuration larger than {MAX_CONFIG_BYTES} bytes")
    try:
        document: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{source}: not valid TOML: {error}") from error
    return document
