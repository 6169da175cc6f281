"""`llmward serve`: the guarded OpenAI-compatible server (see README "Serving").

Everything slow or risky happens before the port opens: the model is verified (digest,
GGUF header, chat template), the control plane opened (keys, audit log, GDPR store), the
bootstrap admin key shown once on the terminal, the engine started. Binds to loopback
unless told otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from llmward.cli import EXIT_INTEGRITY, EXIT_OK, CliError
from llmward.paths import data_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a model behind the guard (OpenAI-compatible API)",
        description="Serve a GGUF model with llama.cpp behind llmward's guard, auth, rate "
                    "limits and audit log. Without --model, the embedded default model "
                    "(Gemma 3 270M, SHA-256 verified) is served.")
    parser.add_argument("--model", metavar="PATH", help="a GGUF file (default: the embedded "
                        "Gemma 3 270M)")
    parser.add_argument("--model-id", metavar="ID", help="the name clients use (default: the "
                        "file name without .gguf)")
    parser.add_argument("--sha256", metavar="HEX", help="the model file's expected SHA-256 "
                        "(else a manifest beside it is required)")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="serve a model with no digest to check (not recommended)")
    parser.add_argument("--config", metavar="FILE", help="server configuration (TOML: "
                        "[rbac], [ratelimit], [audit], [gdpr], [server])")
    parser.add_argument("--guard-config", metavar="FILE", help="guard policy (TOML)")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--n-gpu-layers", type=int, default=0, metavar="N",
                        help="layers offloaded to the GPU (-1: all; needs a CUDA build)")
    parser.add_argument("--ctx", type=int, default=8192, metavar="N",
                        help="total context, shared by the parallel sequences")
    parser.add_argument("--parallel", type=int, default=4, metavar="N",
                        help="sequences generated at once (continuous batching)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads for llama.cpp (0: all cores)")
    parser.add_argument("--queue", type=int, default=64, metavar="N",
                        help="requests waiting for a sequence slot before 429")
    parser.add_argument("--models-dir", metavar="DIR", help="where POST /v1/models/load finds "
                        "models by name (NAME.gguf, verified against a manifest in DIR)")
    parser.add_argument("--data-dir", help="state directory (keys, audit log, GDPR store)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from llmward.server.model_files import ModelRefused
    from llmward.server.serve import ServeOptions, serve

    if not 0 <= args.port < 65536:
        raise CliError("--port must be between 0 (any free port) and 65535")
    options = ServeOptions(
        model=Path(args.model) if args.model else None, model_id=args.model_id,
        sha256=args.sha256, allow_unverified=args.allow_unverified,
        config=Path(args.config) if args.config else None,
        guard_config=Path(args.guard_config) if args.guard_config else None,
        host=args.host, port=args.port, n_gpu_layers=args.n_gpu_layers, n_ctx=args.ctx,
        parallel=args.parallel, threads=args.threads or None, max_queue=args.queue,
        models_dir=Path(args.models_dir) if args.models_dir else None,
        data_dir=data_dir(args.data_dir))
    try:
        asyncio.run(serve(options, announce=_announce, stop=_stop_on_signals))
    except ModelRefused as error:
        print(f"llmward: model refused: {error}", file=sys.stderr)
        return EXIT_INTEGRITY
    except ValueError as error:  # configuration errors name the file and the setting
        raise CliError(str(error)) from None
    return EXIT_OK


def _announce(url: str, bootstrap_key: str | None) -> None:
    """On the terminal only: the key is never logged."""
    print(f"llmward: serving on {url}", flush=True)
    if bootstrap_key is not None:
        print("llmward: bootstrap admin key (shown once; store it now):", flush=True)
        print(bootstrap_key, flush=True)


async def _stop_on_signals() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
