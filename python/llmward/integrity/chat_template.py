"""Chat templates from model files, treated as untrusted code.

A GGUF file carries its chat template as Jinja source, and whoever made the file
chose it. `render_chat_template` renders it only in the bounded sandbox
(template_sandbox.py), with a cap on output size and on wall time, and by default
refuses a template that `audit_chat_template` finds suspicious.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Template, TemplateError

from llmward.integrity.template_audit import MAX_TEMPLATE_CHARS, audit_chat_template
from llmward.integrity.template_sandbox import (
    TEMPLATE_FILENAME,
    BoundedSandbox,
    LimitExceeded,
    TemplateRaised,
    run_limited,
)

__all__ = ["ChatTemplateError", "audit_chat_template", "render_chat_template"]

DEFAULT_MAX_OUTPUT = 1 << 21  # characters: a 128k-token prompt is ~0.5M
DEFAULT_TIMEOUT = 1.0  # seconds of wall time


class ChatTemplateError(ValueError):
    """A template refused, stopped at a limit, or failing while rendering."""


_SANDBOX = BoundedSandbox()


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> Template:
    code = _SANDBOX.compile(source, filename=TEMPLATE_FILENAME)
    return _SANDBOX.template_class.from_code(_SANDBOX, code, _SANDBOX.make_globals(None))


@functools.lru_cache(maxsize=64)
def _cached_audit(source: str) -> tuple[str, ...]:
    return tuple(audit_chat_template(source))


def render_chat_template(source: str, messages: Sequence[Mapping[str, Any]], *,
                         add_generation_prompt: bool = True, bos_token: str = "",
                         eos_token: str = "", max_output: int = DEFAULT_MAX_OUTPUT,
                         timeout: float = DEFAULT_TIMEOUT, allow_suspicious: bool = False,
                         variables: Mapping[str, Any] | None = None) -> str:
    """Render `source` for `messages` (plus `variables`, e.g. tools) within limits.

    Raises ChatTemplateError when the template is suspicious (unless
    `allow_suspicious`), does not compile, raises, or would exceed `max_output`
    characters (the output or any value it builds) or `timeout` seconds.
    """
    if len(source) > MAX_TEMPLATE_CHARS:
        raise ChatTemplateError(f"template is over {MAX_TEMPLATE_CHARS} characters")
    findings = _cached_audit(source)
    if findings and not allow_suspicious:
        raise ChatTemplateError("suspicious template: " + "; ".join(findings))
    context = {**(variables or {}), "messages": messages,
               "add_generation_prompt": add_generation_prompt, "bos_token": bos_token,
               "eos_token": eos_token}
    try:
        return run_limited(lambda: _collect(_compile(source), context, max_output),
                           max_output, timeout)
    except LimitExceeded as error:
        raise ChatTemplateError(f"template stopped: {error}") from None
    except TemplateRaised as error:
        raise ChatTemplateError(f"template refused its input: {error}") from None
    except TemplateError as error:
        raise ChatTemplateError(f"template error: {error}") from None
    except Exception as error:  # noqa: BLE001 - any failure of untrusted code is a refusal
        raise ChatTemplateError(f"template failed: {type(error).__name__}: {error}") from None


def _collect(template: Template, context: dict[str, Any], max_output: int) -> str:
    chunks: list[str] = []
    size = 0
    stream = template.generate(context)
    try:
        for chunk in stream:
            size += len(chunk)
            if size > max_output:
                raise LimitExceeded(f"output is over {max_output} characters")
            chunks.append(chunk)
    finally:
        close = getattr(stream, "close", None)  # a generator: stop it at once
        if close is not None:
            close()
    return "".join(chunks)
