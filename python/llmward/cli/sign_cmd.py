"""`llmward sign DIR` and `llmward verify DIR|FILE`: OpenSSF model signatures (the
format of the `model_signing` tool's key mode), and the seed's detached RSA-PSS
`.sig` files."""

from __future__ import annotations

import argparse
import json
import os
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
    emit_failure,
    emit_tree_report,
    input_errors,
    progress_bar,
)
from llmward.integrity.errors import IntegrityError
from llmward.integrity.keys import load_rsa_public_key, load_signing_key, load_verifying_key
from llmward.integrity.seed_signature import verify_seed_signature
from llmward.integrity.signing import default_signature_path, sign_model, verify_model


def register(subparsers: Any) -> None:
    sign = subparsers.add_parser(
        "sign", help="sign a model directory (OpenSSF model signing format)",
        description="Sign every file of DIR with an ECDSA key, writing a Sigstore bundle "
                    "that `model_signing verify key` also accepts.")
    sign.add_argument("directory", metavar="DIR")
    sign.add_argument("--key", required=True, metavar="KEY.pem",
                      help="PEM private key: ECDSA P-256 (or P-384, P-521)")
    sign.add_argument("--passphrase-env", metavar="VAR",
                      help="read the key's passphrase from environment variable VAR")
    sign.add_argument("--output", "-o", metavar="FILE",
                      help="where to write the signature (default: DIR/model.sig)")
    add_output_options(sign)
    sign.set_defaults(handler=run_sign)

    verify = subparsers.add_parser(
        "verify", help="verify a model directory's signature, or a seed .sig file",
        description="Verify DIR against its OpenSSF model signature, or, with --seed-sig, "
                    "one FILE against the seed's detached RSA-PSS signature. Exit code 1: "
                    "bad or missing signature, mismatched, missing or extra file.")
    verify.add_argument("path", metavar="DIR|FILE")
    verify.add_argument("--key", required=True, metavar="PUB.pem", help="PEM public key")
    verify.add_argument("--signature", "-s", metavar="FILE",
                        help="the signature bundle (default: DIR/model.sig)")
    verify.add_argument("--seed-sig", metavar="FILE.sig",
                        help="verify FILE against this detached RSA-PSS signature instead")
    add_verify_options(verify)
    add_output_options(verify)
    verify.set_defaults(handler=run_verify)


def run_sign(args: argparse.Namespace) -> int:
    root = existing_directory(args.directory)
    threads = check_threads(args)
    output = Path(args.output) if args.output else default_signature_path(root)
    with input_errors():
        key = load_signing_key(Path(args.key), _passphrase(args.passphrase_env))
    with input_errors(), progress_bar(f"signing {root.name}", args.no_progress) as bar:
        result = sign_model(root, key, output, threads=threads, progress=bar)
    if args.json:
        print(json.dumps({"signature": str(result.signature_path), "model": result.model_name,
                          "files": result.files, "root_sha256": result.root_digest,
                          "key_hint": result.key_hint}, indent=2))
    else:
        print(f"signed {result.files} files of {root} -> {result.signature_path}")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    threads = check_threads(args)
    if args.seed_sig:
        return _verify_seed(args, threads)
    root = existing_directory(args.path)
    signature = Path(args.signature) if args.signature else default_signature_path(root)
    context: dict[str, Any] = {"directory": str(root), "signature": str(signature)}
    with input_errors():
        key = load_verifying_key(Path(args.key))
    data_dir = cache_data_dir(args.data_dir)
    with input_errors(), progress_bar(f"verifying {root.name}", args.no_progress) as bar:
        try:
            result = verify_model(root, key, signature, data_dir=data_dir, full=args.full,
                                  allow_extra=args.allow_extra, threads=threads, progress=bar)
        except IntegrityError as error:
            return emit_failure(str(error), as_json=args.json, context=context)
    context["model"] = result.model.name
    return emit_tree_report(result.tree, as_json=args.json, context=context)


def _verify_seed(args: argparse.Namespace, threads: int) -> int:
    model_file = Path(args.path)
    if not model_file.is_file():
        raise CliError(f"{args.path}: --seed-sig verifies a single file")
    if args.signature:
        raise CliError("--signature is for OpenSSF bundles; --seed-sig names the .sig file")
    context: dict[str, Any] = {"file": str(model_file), "signature": args.seed_sig}
    with input_errors():
        key = load_rsa_public_key(Path(args.key))
    with input_errors(), progress_bar(f"verifying {model_file.name}", args.no_progress) as bar:
        try:
            digest = verify_seed_signature(model_file, Path(args.seed_sig), key,
                                           threads=threads, progress=bar)
        except IntegrityError as error:
            return emit_failure(str(error), as_json=args.json, context=context)
    if args.json:
        print(json.dumps({**context, "ok": True, "sha256": digest}, indent=2))
    else:
        print(f"OK: {model_file} matches its signature (sha256 {digest})")
    return EXIT_OK


def _passphrase(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise CliError(f"--passphrase-env: environment variable {variable} is not set")
    return value.encode()
