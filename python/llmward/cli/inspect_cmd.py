"""`llmward inspect FILE`: what a GGUF file claims to be, read without loading it,
and whether its chat templates look tampered with."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmward.cli import EXIT_INTEGRITY, EXIT_OK, CliError
from llmward.integrity.gguf import GGUFError, GGUFFile, read_gguf
from llmward.integrity.template_audit import audit_chat_template


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "inspect", help="check a GGUF file's header and describe the model",
        description="Read a GGUF file's header (never its tensor data), refuse crafted "
                    "files, and print architecture, parameters, quantization, context "
                    "length and an audit of the chat templates.")
    parser.add_argument("path", metavar="FILE")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a chat template is suspicious")
    parser.add_argument("--show-template", action="store_true",
                        help="print the chat templates' text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if not path.is_file():
        raise CliError(f"{path}: not a regular file")
    try:
        model = read_gguf(path)
    except GGUFError as error:
        return _refused(path, error, as_json=args.json)
    except OSError as error:
        raise CliError(f"{path}: {error.strerror or error}") from error
    templates = template_reports(model, show_text=args.show_template)
    suspicious = [t["key"] for t in templates if t["suspicious"]]
    code = EXIT_INTEGRITY if args.strict and suspicious else EXIT_OK
    report = describe(path, model, templates, ok=code == EXIT_OK)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_text(report)
    if code != EXIT_OK:
        print(f"llmward: {path}: suspicious chat template ({', '.join(suspicious)})",
              file=sys.stderr)
    return code


def _refused(path: Path, error: GGUFError, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"file": str(path), "ok": False, "error": error.reason,
                          "offset": error.offset}, indent=2))
    print(f"llmward: refused: {path}: {error}", file=sys.stderr)
    return EXIT_INTEGRITY


def template_reports(model: GGUFFile, *, show_text: bool) -> list[dict[str, Any]]:
    """One entry per chat template (or unusable chat_template key) with its findings."""
    reports: list[dict[str, Any]] = []
    for key, text in model.chat_templates.items():
        field = model.fields[key.split("[", 1)[0]]
        findings = audit_chat_template(text)
        entry: dict[str, Any] = {"key": key, "type": field.type_name, "length": len(text),
                                 "suspicious": bool(findings), "findings": findings}
        if show_text:
            entry["template"] = text
        reports.append(entry)
    for key, problem in model.chat_template_problems.items():
        reports.append({"key": key, "type": model.fields[key].type_name, "length": None,
                        "suspicious": True, "findings": [problem]})
    return reports


def describe(path: Path, model: GGUFFile, templates: list[dict[str, Any]], *, ok: bool
             ) -> dict[str, Any]:
    return {
        "file": str(path),
        "ok": ok,
        "file_size": model.file_size,
        "version": model.version,
        "architecture": model.architecture,
        "parameter_count": model.parameter_count,
        "parameters": human_count(model.parameter_count),
        "quantization": model.quantization,
        "context_length": model.context_length,
        "tensor_count": len(model.tensors),
        "metadata_count": len(model.fields),
        "alignment": model.alignment,
        "data_offset": model.data_offset,
        "chat_templates": templates,
    }


def print_text(report: dict[str, Any]) -> None:
    rows = [
        ("file", report["file"]),
        ("size", f"{human_bytes(report['file_size'])} ({report['file_size']} bytes)"),
        ("gguf version", report["version"]),
        ("architecture", report["architecture"] or "(not set)"),
        ("parameters", f"{report['parameters']} ({report['parameter_count']:,})"),
        ("quantization", report["quantization"] or "(no tensors)"),
        ("context length", report["context_length"] or "(not set)"),
        ("tensors", report["tensor_count"]),
        ("chat templates", len(report["chat_templates"]) or "none"),
    ]
    for label, value in rows:
        print(f"{label:<16}{value}")
    for entry in report["chat_templates"]:
        size = f"{entry['length']} chars, " if entry["length"] is not None else ""
        verdict = "SUSPICIOUS" if entry["suspicious"] else "ok"
        print(f"  {entry['key']} ({size}{entry['type']}): {verdict}")
        for finding in entry["findings"]:
            print(f"    - {finding}")
        if "template" in entry:
            print(f"----- {entry['key']} -----")
            print(entry["template"])
            print(f"----- end of {entry['key']} -----")


def human_count(n: int) -> str:
    """268M, 7.2B: one decimal below 10 of a unit, none above."""
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
