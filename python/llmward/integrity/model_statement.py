"""The in-toto statement of the OpenSSF model signing format v1.0.

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<model dir name>", "digest": {"sha256": "<root digest>"}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {
       "serialization": {"method": "files", "hash_type": "sha256",
                         "allow_symlinks": false, "ignore_paths": ["model.sig", ".git", ...]},
       "resources": [{"name": "sub/file", "algorithm": "sha256", "digest": "<hex>"}, ...]}}

The root digest is SHA-256 over the raw (not hex) resource digests concatenated
in the listed order. Resources are listed sorted by path components, as
model_signing sorts them. v1.0 verifiers ignore other predicate fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmward.integrity.errors import FormatError, IntegrityError
from llmward.integrity.tree_check import check_relative_name, usable_ignore_paths

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
SUPPORTED_HASHES = ("sha256", "blake3")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SignedModel:
    name: str
    root_digest: str
    hash_type: str
    ignore_paths: tuple[str, ...]
    files: dict[str, dict[str, str]]  # relative path -> {hash_type: hex}


def root_digest(hex_digests: Sequence[str]) -> str:
    return hashlib.sha256(b"".join(bytes.fromhex(d) for d in hex_digests)).hexdigest()


def build_statement(model_name: str, digests: Mapping[str, str], *, ignore_paths: Sequence[str],
                    allow_symlinks: bool, hash_type: str = "sha256") -> bytes:
    """The statement's JSON bytes (the DSSE payload) for files -> hex digest."""
    names = sorted(digests, key=lambda name: tuple(name.split("/")))
    resources = [{"name": n, "algorithm": hash_type, "digest": digests[n]} for n in names]
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name,
                     "digest": {"sha256": root_digest([digests[n] for n in names])}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {"method": "files", "hash_type": hash_type,
                              "allow_symlinks": allow_symlinks,
                              "ignore_paths": list(ignore_paths)},
            "resources": resources,
        },
    }
    return json.dumps(statement, indent=2, sort_keys=True).encode()


def parse_statement(payload: bytes) -> SignedModel:
    """Read an (already signature-checked) statement. FormatError for what llmward
    cannot read; IntegrityError when the resources do not hash to the subject."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as error:
        raise FormatError(f"signed payload is not JSON ({error})") from None
    body = _object(body, "statement")
    if body.get("_type") != STATEMENT_TYPE:
        raise FormatError(f"signed payload is not an in-toto v1 statement "
                          f"(_type {body.get('_type')!r})")
    if body.get("predicateType") != PREDICATE_TYPE:
        raise FormatError(f"unsupported predicate type {body.get('predicateType')!r} "
                          f"(llmward reads {PREDICATE_TYPE})")
    subjects = body.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1:
        raise FormatError("the statement must have exactly one subject")
    subject = _object(subjects[0], "subject")
    subject_digest = _object(subject.get("digest"), "subject digest").get("sha256")
    if not isinstance(subject_digest, str):
        raise FormatError("the subject has no sha256 digest")
    predicate = _object(body.get("predicate"), "predicate")
    serialization = _object(predicate.get("serialization"), "serialization")
    if serialization.get("method") != "files":
        raise FormatError(f"serialization method {serialization.get('method')!r} is not "
                          f"supported (llmward reads 'files', not 'shards')")
    hash_type = serialization.get("hash_type")
    if hash_type not in SUPPORTED_HASHES:
        raise FormatError(f"hash type {hash_type!r} is not supported ({SUPPORTED_HASHES})")
    ignore = serialization.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise FormatError("serialization.ignore_paths must be a list of strings")
    files, ordered = _resources(predicate.get("resources"), hash_type)
    if not hmac.compare_digest(root_digest(ordered), subject_digest.lower()):
        raise IntegrityError("the signed statement is inconsistent: its resources do not "
                             "hash to its subject digest")
    name = subject.get("name")
    return SignedModel(name if isinstance(name, str) else "", subject_digest.lower(), hash_type,
                       usable_ignore_paths(ignore), files)


def _resources(value: object, hash_type: str
               ) -> tuple[dict[str, dict[str, str]], list[str]]:
    if not isinstance(value, list):
        raise FormatError("predicate.resources must be a list")
    files: dict[str, dict[str, str]] = {}
    ordered = []
    for item in value:
        resource = _object(item, "resource")
        name = check_relative_name(resource.get("name"))
        digest = resource.get("digest")
        if resource.get("algorithm") != hash_type:
            raise FormatError(f"resource {name!r}: algorithm {resource.get('algorithm')!r} "
                              f"differs from the hash type {hash_type!r}")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise FormatError(f"resource {name!r}: digest is not 64 hex digits")
        if name in files:
            raise FormatError(f"resource {name!r} is listed twice")
        files[name] = {hash_type: digest.lower()}
        ordered.append(digest)
    return files, ordered


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"the statement's {what} is not a JSON object")
    return value
