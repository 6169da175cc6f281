"""Per-file digest manifests: llmward's own JSON format, and the seed's flat
`models/checksums.json` (file name -> SHA-256 hex) for compatibility.

llmward format (UTF-8 JSON, keys sorted):

    {"format": "llmward-manifest/1",
     "algorithms": ["sha256", "blake3"],          # sha256 always; blake3 optional
     "ignore_paths": [".git", ..., "llmward-manifest.json"],
     "files": {"weights/model.gguf": {"sha256": "<hex>", "blake3": "<hex>"}}}

The checksums format cannot record ignore paths, so one is verified with the
default ones plus the checksums file itself.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmward.integrity.errors import FormatError
from llmward.integrity.hashing import Progress
from llmward.integrity.tree_check import (
    GIT_PATHS,
    TreeReport,
    check_relative_name,
    check_tree,
    hash_files,
    relative_inside,
    select_files,
    usable_ignore_paths,
)
from llmward.integrity.verify_cache import VerifyCache

MANIFEST_FORMAT = "llmward-manifest/1"
MANIFEST_NAME = "llmward-manifest.json"
CHECKSUMS_NAME = "checksums.json"
SUPPORTED_ALGORITHMS = ("sha256", "blake3")
# model.sig is the default signature name: `llmward sign` after `manifest create`
# must not turn the signature into an "extra" file.
DEFAULT_IGNORE = (*GIT_PATHS, "model.sig")
MAX_MANIFEST_BYTES = 64 << 20

ManifestKind = Literal["llmward", "checksums"]
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Manifest:
    kind: ManifestKind
    algorithms: tuple[str, ...]
    ignore_paths: tuple[str, ...]
    files: dict[str, dict[str, str]]  # relative POSIX path -> {algorithm: lowercase hex}


def create_manifest(root: Path, output: Path, *, kind: ManifestKind = "llmward",
                    algorithms: Sequence[str] = ("sha256",),
                    ignore_paths: Sequence[str] = DEFAULT_IGNORE, threads: int = 0,
                    progress: Progress | None = None) -> Manifest:
    """Digest every file under `root`, less the ignored ones and `output` itself."""
    names = tuple(dict.fromkeys(algorithms))
    if "sha256" not in names or not set(names) <= set(SUPPORTED_ALGORITHMS):
        raise ValueError(f"algorithms must include sha256, from {SUPPORTED_ALGORITHMS}")
    if kind == "checksums" and names != ("sha256",):
        raise ValueError("the checksums.json format holds SHA-256 only")
    ignore = _ignore_with_self(root, output, ignore_paths)
    files = {name: digests for name, digests, _ in hash_files(
        root, select_files(root, ignore), lambda _name: names, threads=threads,
        progress=progress)}
    return Manifest(kind, names, ignore, files)


def manifest_bytes(manifest: Manifest) -> bytes:
    """The manifest serialized in its own kind's format."""
    body: dict[str, Any]
    if manifest.kind == "checksums":
        body = {name: digests["sha256"] for name, digests in manifest.files.items()}
    else:
        body = {"format": MANIFEST_FORMAT, "algorithms": list(manifest.algorithms),
                "ignore_paths": list(manifest.ignore_paths), "files": manifest.files}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def save_manifest(manifest: Manifest, path: Path) -> None:
    path.write_bytes(manifest_bytes(manifest))


def load_manifest(path: Path) -> tuple[Manifest, bytes]:
    """The parsed manifest and its raw bytes (whose digest binds the verify cache)."""
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise FormatError(f"{path}: larger than {MAX_MANIFEST_BYTES >> 20} MiB, not a manifest")
    data = path.read_bytes()
    try:
        return parse_manifest(data), data
    except FormatError as error:
        raise FormatError(f"{path}: {error}") from None


def parse_manifest(data: bytes) -> Manifest:
    """Either format, told apart by llmward's "format" field."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise FormatError(f"not JSON ({error})") from None
    if not isinstance(body, dict):
        raise FormatError("not a JSON object")
    if body.get("format") == MANIFEST_FORMAT:
        return _parse_llmward(body)
    if "format" in body and "files" in body:
        raise FormatError(f"unsupported manifest format {body['format']!r}")
    return _parse_checksums(body)


def verify_manifest(root: Path, manifest_path: Path, *, data_dir: Path | None = None,
                    full: bool = False, allow_extra: bool = False, threads: int = 0,
                    progress: Progress | None = None) -> tuple[Manifest, TreeReport]:
    """Check `root` against the manifest at `manifest_path` (either format). With a
    `data_dir`, files unchanged since they last matched this same manifest are not
    read again, unless `full`."""
    manifest, raw = load_manifest(manifest_path)
    cache = None
    if data_dir is not None:
        binding = "manifest:sha256:" + hashlib.sha256(raw).hexdigest()
        cache = VerifyCache.open(data_dir, root, binding, trust_existing=not full)
    ignore = manifest.ignore_paths if manifest.kind == "llmward" else DEFAULT_IGNORE
    report = check_tree(root, manifest.files,
                        ignore_paths=_ignore_with_self(root, manifest_path, ignore),
                        cache=cache, allow_extra=allow_extra, threads=threads,
                        progress=progress)
    return manifest, report


def _ignore_with_self(root: Path, own_file: Path, ignore: Sequence[str]) -> tuple[str, ...]:
    own = relative_inside(root, own_file)
    return usable_ignore_paths([*ignore, *([own] if own else [])])


def _parse_llmward(body: dict[str, Any]) -> Manifest:
    algorithms = body.get("algorithms")
    if (not isinstance(algorithms, list) or "sha256" not in algorithms
            or not all(a in SUPPORTED_ALGORITHMS for a in algorithms)):
        raise FormatError(f"'algorithms' must list sha256 and optionally blake3, "
                          f"not {algorithms!r}")
    ignore = body.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise FormatError("'ignore_paths' must be a list of strings")
    entries = body.get("files")
    if not isinstance(entries, dict):
        raise FormatError("'files' must be an object")
    files = {}
    for name, digests in entries.items():
        if not isinstance(digests, dict) or set(digests) != set(algorithms):
            raise FormatError(f"{name!r}: expected digests {sorted(algorithms)}")
        files[check_relative_name(name)] = {
            algorithm: _hex_digest(name, digests[algorithm]) for algorithm in algorithms}
    return Manifest("llmward", tuple(algorithms), usable_ignore_paths(ignore), files)


def _parse_checksums(body: dict[str, Any]) -> Manifest:
    files = {check_relative_name(name): {"sha256": _hex_digest(name, value)}
             for name, value in body.items()}
    return Manifest("checksums", ("sha256",), (), files)


def _hex_digest(name: str, value: object) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise FormatError(f"{name!r}: digest {value!r} is not 64 hex digits")
    return value.lower()
