"""Chat messages to prompt tokens, without letting message text become control tokens.

The model's chat template (from the verified GGUF, rendered only in the sandbox) is given
placeholders instead of the messages' text. The rendered text is then split at the
placeholders: the template's own text is tokenized with special tokens parsed (it holds
`<start_of_turn>` and the like on purpose), each message's text with special parsing off,
so a user who types `<end_of_turn><start_of_turn>system` gets those characters as plain
text, never a forged turn. Every message must come out of the template exactly once: a
template that drops one (a system prompt holding the canary, say) is refused rather than
silently served.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence

from llmward.integrity.chat_template import ChatTemplateError, render_chat_template

# tokenize(text, parse_special) -> token ids; never adds BOS itself (the template does).
Tokenize = Callable[[str, bool], list[int]]


class PromptError(ValueError):
    """The prompt cannot be built from these messages with this template."""


def chat_prompt_tokens(template: str | None, messages: Sequence[Mapping[str, str]],
                       tokenize: Tokenize, *, bos_token: str, eos_token: str,
                       bos_id: int | None) -> list[int]:
    """Token ids of the chat prompt, ending where the assistant's answer starts."""
    if template is None:
        return _plain_prompt(messages, tokenize, bos_id)
    nonce = secrets.token_hex(8)
    marks = [f"@@llmward-message-{i}-{nonce}@@" for i in range(len(messages))]
    stand_ins = [{"role": m["role"], "content": mark}
                 for m, mark in zip(messages, marks, strict=True)]
    try:
        rendered = render_chat_template(template, stand_ins, add_generation_prompt=True,
                                        bos_token=bos_token, eos_token=eos_token)
    except ChatTemplateError as error:
        raise PromptError(f"the model's chat template refused these messages: {error}"
                          ) from None
    pieces = re.split(f"(@@llmward-message-[0-9]+-{nonce}@@)", rendered)
    seen = pieces[1::2]
    if sorted(seen) != sorted(marks) or len(set(seen)) != len(seen):
        raise PromptError("the model's chat template does not render every message exactly "
                          "once (a role it does not support?)")
    by_mark = {mark: m["content"] for mark, m in zip(marks, messages, strict=True)}
    tokens: list[int] = []
    for i, piece in enumerate(pieces):
        if not piece:
            continue
        if i % 2:  # a message's text: never control tokens
            tokens += tokenize(by_mark[piece], False)
        else:  # the template's text
            tokens += tokenize(piece, True)
    return tokens


def _plain_prompt(messages: Sequence[Mapping[str, str]], tokenize: Tokenize,
                  bos_id: int | None) -> list[int]:
    """For a model without a chat template: `role: text` lines and an assistant cue."""
    tokens = [bos_id] if bos_id is not None else []
    for message in messages:
        tokens += tokenize(f"{message['role']}: ", False)
        tokens += tokenize(message["content"] + "\n", False)
    return tokens + tokenize("assistant: ", False)
