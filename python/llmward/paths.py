"""Where llmward keeps its per-user state (the verify cache, for one)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "LLMWARD_DATA_DIR"


def data_dir(override: str | None = None) -> Path:
    """The llmward data directory, created with mode 0700 if it does not exist.

    Precedence: `override` (the `--data-dir` option), then $LLMWARD_DATA_DIR, then
    $XDG_DATA_HOME/llmward, then ~/.local/share/llmward. Per the XDG spec a relative
    $XDG_DATA_HOME is invalid and ignored.
    """
    if override:
        path = Path(override).expanduser()
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV]).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
        path = base / "llmward"
    # mode applies to the last component only; the umask can only narrow it further.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
