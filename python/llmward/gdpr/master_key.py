"""Where the GDPR master key comes from: the secret `gdpr_master_key` (environment
`LLMWARD_SECRET_GDPR_MASTER_KEY`, a secret file, Vault; 32 bytes as hex or base64), else
the key file `<data dir>/gdpr/master.key` (0600, in a 0700 directory).

The key file is created only together with a new store (`create=True`): for an existing
store, a missing key means its data cannot be read, which must be an error rather than a
fresh key that silently replaces the old one.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from pathlib import Path

from llmward.gdpr.crypto import KEY_BYTES, MasterKey
from llmward.gdpr.files import GdprStoreError, create_once, private_dir, read_private
from llmward.secrets import SecretNotFound, SecretResolver, SecretValue, default_resolver

MASTER_KEY_SECRET = "gdpr_master_key"  # noqa: S105 -- the secret's name, not a value  # nosec B105
KEY_FILE = "master.key"
_HEX = re.compile(r"[0-9a-fA-F]{64}")


def load_master_key(gdpr_dir: Path, *, create: bool,
                    resolver: SecretResolver | None = None) -> MasterKey:
    """The master key from the secret when one is set, else from the key file (created
    when `create` and missing)."""
    try:
        value = (resolver or default_resolver()).get(MASTER_KEY_SECRET)
    except SecretNotFound:
        return _from_file(gdpr_dir / KEY_FILE, create)
    return MasterKey(_decode(value), f"secret {MASTER_KEY_SECRET!r} ({value.source})")


def _decode(value: SecretValue) -> bytes:
    """32 bytes from 64 hex digits or base64 (standard or URL-safe, padding optional);
    the error never quotes the value."""
    text = value.reveal().strip()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    standard = text.replace("-", "+").replace("_", "/")  # URL-safe alphabet too
    try:
        key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) == KEY_BYTES:
        return key
    raise GdprStoreError(f"secret {MASTER_KEY_SECRET!r}: expected {KEY_BYTES} bytes as "
                         f"{2 * KEY_BYTES} hex digits or base64")


def _from_file(path: Path, create: bool) -> MasterKey:
    private_dir(path.parent)
    if not path.exists():
        if not create:
            raise GdprStoreError(
                f"{path}: no master key (and no {MASTER_KEY_SECRET!r} secret) for an existing "
                "GDPR store; restore the key file or set the secret it was created with")
        create_once(path, secrets.token_bytes(KEY_BYTES).hex().encode() + b"\n")
    text = read_private(path, 2 * KEY_BYTES + 1).strip()
    if not _HEX.fullmatch(text.decode("ascii", "replace")):
        raise GdprStoreError(f"{path}: expected {2 * KEY_BYTES} hex digits")
    return MasterKey(bytes.fromhex(text.decode("ascii")), f"file {path}")
