"""`llmward manifest create|verify DIR`: record every file's digests, then check a
directory against the record (llmward's JSON or the seed's checksums.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from llmward.cli import EXIT_OK, CliError
from llmward.cli.integrity_options import (
    add_output_options,
    add_verify_options,
    check_threads,
    existing_directory,
)
from llmward.cli.integrity_report import (
    cache_data_dir,
    emit_tree_report,
    input_errors,
    progress_bar,
)
from llmward.integrity.manifest import (
    CHECKSUMS_NAME,
    DEFAULT_IGNORE,
    MANIFEST_NAME,
    create_manifest,
    save_manifest,
    verify_manifest,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "manifest", help="record or check the digests of a model directory's files",
        description="Record every file's digests in a manifest, or check a directory "
                    "against one.")
    actions = parser.add_subparsers(dest="manifest_action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create", help="write a manifest of DIR",
        description=f"Digest every file under DIR, leaving out {', '.join(DEFAULT_IGNORE)} "
                    f"and the manifest itself.")
    create.add_argument("directory", metavar="DIR")
    create.add_argument("--output", "-o", metavar="FILE",
                        help=f"default: DIR/{MANIFEST_NAME}, or DIR/{CHECKSUMS_NAME} with "
                             f"--format checksums")
    create.add_argument("--format", choices=("llmward", "checksums"), default="llmward",
                        help="llmward's manifest (default), or the seed's flat "
                             "checksums.json (file name -> SHA-256 hex)")
    create.add_argument("--algo", default="sha256",
                        help="comma-separated digests: sha256 (always) and optionally blake3")
    create.add_argument("--exclude", action="append", default=[], metavar="PATH",
                        help="a relative path (file or directory) to leave out; repeatable; "
                             "recorded in the manifest")
    add_output_options(create)
    create.set_defaults(handler=run_create)

    verify = actions.add_parser(
        "verify", help="check DIR against a manifest",
        description="Check every file of DIR against a manifest: mismatched, missing and "
                    "extra files fail (exit code 1). Files unchanged since they last "
                    "matched the same manifest are not re-read.")
    verify.add_argument("directory", metavar="DIR")
    verify.add_argument("--manifest", "-m", metavar="FILE",
                        help=f"default: DIR/{MANIFEST_NAME}, else DIR/{CHECKSUMS_NAME}")
    add_verify_options(verify)
    add_output_options(verify)
    verify.set_defaults(handler=run_verify)


def run_create(args: argparse.Namespace) -> int:
    root = existing_directory(args.directory)
    threads = check_threads(args)
    algorithms = [name.strip() for name in args.algo.split(",") if name.strip()]
    if args.format == "checksums" and args.exclude:
        raise CliError("--exclude cannot be recorded in the checksums.json format")
    default_name = CHECKSUMS_NAME if args.format == "checksums" else MANIFEST_NAME
    output = Path(args.output) if args.output else root / default_name
    with input_errors(), progress_bar(f"hashing {root.name}", args.no_progress) as bar:
        manifest = create_manifest(root, output, kind=args.format, algorithms=algorithms,
                                   ignore_paths=[*DEFAULT_IGNORE, *args.exclude],
                                   threads=threads, progress=bar)
        save_manifest(manifest, output)
    if args.json:
        print(json.dumps({"manifest": str(output), "format": manifest.kind,
                          "algorithms": list(manifest.algorithms),
                          "files": len(manifest.files)}, indent=2))
    else:
        print(f"wrote {output}: {len(manifest.files)} files, {', '.join(manifest.algorithms)}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    root = existing_directory(args.directory)
    threads = check_threads(args)
    manifest_path = Path(args.manifest) if args.manifest else _default_manifest(root)
    data_dir = cache_data_dir(args.data_dir)
    with input_errors(), progress_bar(f"verifying {root.name}", args.no_progress) as bar:
        manifest, report = verify_manifest(root, manifest_path, data_dir=data_dir,
                                           full=args.full, allow_extra=args.allow_extra,
                                           threads=threads, progress=bar)
    context = {"directory": str(root), "manifest": str(manifest_path), "format": manifest.kind}
    return emit_tree_report(report, as_json=args.json, context=context)



def _default_manifest(root: Path) -> Path:
    for name in (MANIFEST_NAME, CHECKSUMS_NAME):
        if (root / name).is_file():
            return root / name
    raise CliError(f"{root}: no {MANIFEST_NAME} or {CHECKSUMS_NAME}; pass --manifest FILE")
