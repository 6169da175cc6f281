"""A Sigstore bundle v0.3 holding one DSSE envelope, signed with a key (no
certificate, no transparency log), as OpenSSF model signing writes it.

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"publicKey": {"hint": "<hex>"}, "tlogEntries": []},
     "dsseEnvelope": {"payload": "<base64>", "payloadType": "application/vnd.in-toto+json",
                      "signatures": [{"sig": "<base64 DER ECDSA>", "keyid": ""}]}}

model_signing parses bundles with unknown fields forbidden, so exactly these are
written. The signature covers the DSSE pre-authentication encoding (PAE) of the
payload type and payload, never the JSON around them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from llmward.integrity.errors import FormatError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_BUNDLE_BYTES = 64 << 20


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 PAE: "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths
    in bytes as ASCII decimal."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]
    key_hint: str | None  # unauthenticated: only for a clearer "wrong key" error


def build_bundle(payload: bytes, signature: bytes, key_hint: str) -> bytes:
    body = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def parse_bundle(data: bytes) -> Envelope:
    """The envelope of a key-signed bundle; FormatError names what is malformed."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise FormatError(f"malformed bundle: not JSON ({error})") from None
    if not isinstance(body, dict):
        raise FormatError("malformed bundle: not a JSON object")
    if body.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise FormatError(f"unsupported bundle media type {body.get('mediaType')!r} "
                          f"(expected {BUNDLE_MEDIA_TYPE})")
    material = _field(body, "verificationMaterial", dict)
    if "publicKey" not in material:
        raise FormatError("bundle is not key-signed (no verificationMaterial.publicKey; "
                          "certificate and Sigstore keyless bundles are not supported)")
    public_key = _field(material, "publicKey", dict)
    hint = public_key.get("hint")
    if hint is not None and not isinstance(hint, str):
        raise FormatError("malformed bundle: publicKey.hint is not a string")
    envelope = _field(body, "dsseEnvelope", dict)
    signatures = _field(envelope, "signatures", list)
    if not signatures:
        raise FormatError("malformed bundle: the envelope has no signature")
    return Envelope(
        payload_type=_field(envelope, "payloadType", str),
        payload=_base64(_field(envelope, "payload", str), "payload"),
        signatures=tuple(_base64(_field(_as_dict(s), "sig", str), "sig") for s in signatures),
        key_hint=hint or None,
    )


def _field(obj: dict[str, Any], name: str, kind: type[Any]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind):
        raise FormatError(f"malformed bundle: {name!r} missing or not a {kind.__name__}")
    return value


def _as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError("malformed bundle: a signature entry is not an object")
    return value


def _base64(text: str, name: str) -> bytes:
    # DSSE readers accept standard or URL-safe base64, padded or not.
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded.encode())
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"malformed bundle: {name!r} is not base64") from None
