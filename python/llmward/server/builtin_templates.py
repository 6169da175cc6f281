"""Chat templates for model families whose GGUF files often ship without one.

Used only when the verified file has no `tokenizer.chat_template`. Each is rendered in
the same sandbox as a file's own template.
"""

from __future__ import annotations

# Gemma's turn format: `<start_of_turn>user|model`, `<end_of_turn>`; no system role, so
# system text is put at the start of the next user turn.
GEMMA = (
    "{{ bos_token }}"
    "{%- set pending = namespace(system='') -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'system' -%}"
    "{%- set pending.system = pending.system + message.content + '\n\n' -%}"
    "{%- else -%}"
    "<start_of_turn>{{ 'model' if message.role == 'assistant' else 'user' }}\n"
    "{% if message.role == 'user' %}{{ pending.system }}{% set pending.system = '' %}"
    "{% endif %}{{ message.content }}<end_of_turn>\n"
    "{% endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<start_of_turn>model\n{% endif -%}"
)

BY_ARCHITECTURE = {"gemma": GEMMA, "gemma2": GEMMA, "gemma3": GEMMA}


def builtin_template(architecture: str | None) -> str | None:
    return BY_ARCHITECTURE.get(architecture or "")
