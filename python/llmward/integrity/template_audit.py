"""Static audit of a chat template: constructs that a chat template has no use for
and that template-injection payloads (SSTI) and resource bombs rely on.

The sandbox blocks these at render time anyway; the audit is what lets `inspect`
report a tampered model, and lets the server refuse it before any render.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_CHARS = 64 * 1024  # the largest real chat templates are ~20 KB
MAX_LITERAL_RANGE = 10_000
MAX_REPEAT_LITERAL = 10_000
MAX_LOOP_DEPTH = 3  # messages -> content parts -> tool calls

# Names an SSTI payload reaches for: Jinja globals that lead to Python internals,
# and the objects of web frameworks that templates are usually rendered in.
SUSPICIOUS_NAMES = frozenset({
    "self", "cycler", "joiner", "lipsum", "config", "request", "session", "url_for",
    "get_flashed_messages", "os", "sys", "builtins", "getattr", "eval", "exec", "open",
})
# Not "system": `ns.system` is how templates collect the system prompt.
SUSPICIOUS_ATTRIBUTES = frozenset({
    "mro", "globals", "builtins", "func_globals", "gi_frame", "gi_code", "f_globals",
    "f_locals", "f_back", "co_code", "tb_frame", "popen", "subprocess", "import_module",
    "load_module",
})
_DUNDER = re.compile(r"__\w+__")
# Filters that take an attribute name: a computed name can reach private attributes.
_ATTRIBUTE_FILTERS = frozenset({
    "map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max",
    "join", "dictsort",
})

_PARSER = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])


def audit_chat_template(source: str) -> list[str]:
    """Findings as `line N: what`, in template order; empty for an ordinary template."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return [f"template is {len(source)} characters, over the {MAX_TEMPLATE_CHARS} limit"]
    try:
        tree = _PARSER.parse(source)
    except TemplateSyntaxError as error:
        return [f"line {error.lineno}: does not parse: {error.message}"]
    findings: list[str] = []
    for node, parent, loop_depth, macro in _walk(tree, None, 0, None):
        finding = _check(node, parent, loop_depth, macro)
        if finding is not None:
            line = f"line {node.lineno}: {finding}"
            if line not in findings:
                findings.append(line)
    return findings


def _walk(node: nodes.Node, parent: nodes.Node | None, loop_depth: int, macro: str | None
          ) -> Iterator[tuple[nodes.Node, nodes.Node | None, int, str | None]]:
    yield node, parent, loop_depth, macro
    if isinstance(node, nodes.For):
        loop_depth += 1
    if isinstance(node, nodes.Macro):
        macro = node.name
    for child in node.iter_child_nodes():
        yield from _walk(child, node, loop_depth, macro)


def _check(node: nodes.Node, parent: nodes.Node | None, loop_depth: int, macro: str | None
           ) -> str | None:
    if isinstance(node, (nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
        return f"loads another template ({type(node).__name__.lower()})"
    if isinstance(node, nodes.Getattr):
        return _attribute(node.attr)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return _attribute(node.arg.value) if isinstance(node.arg.value, str) else None
    if isinstance(node, nodes.Name):
        return _name(node, parent, macro)
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        if _DUNDER.search(node.value):
            return f"string constant naming a special attribute {node.value[:40]!r}"
    if isinstance(node, nodes.Filter):
        return _filter(node)
    if isinstance(node, nodes.Call):
        return _call(node)
    if isinstance(node, nodes.Pow):
        return "power operator"
    if isinstance(node, nodes.Mul):
        return _repetition(node)
    if isinstance(node, nodes.For) and loop_depth + 1 > MAX_LOOP_DEPTH:
        return f"loops nested {loop_depth + 1} deep"
    return None


def _attribute(name: str) -> str | None:
    if name.startswith("_"):
        return f"private attribute {name!r}"
    if name in SUSPICIOUS_ATTRIBUTES:
        return f"attribute {name!r}"
    return None


def _name(node: nodes.Name, parent: nodes.Node | None, macro: str | None) -> str | None:
    if node.ctx != "load":
        return None
    if node.name.startswith("_"):
        return f"private name {node.name!r}"
    if node.name in SUSPICIOUS_NAMES:
        return f"global {node.name!r}"
    called = isinstance(parent, nodes.Call) and parent.node is node
    if node.name == "namespace" and not called:
        return "'namespace' used other than to create one"
    if macro is not None and node.name == macro and called:
        return f"macro {macro!r} calls itself"
    return None


def _filter(node: nodes.Filter) -> str | None:
    if node.name == "attr":
        return "attr filter (attribute by computed name)"
    if node.name in _ATTRIBUTE_FILTERS:
        for keyword in node.kwargs:
            if keyword.key != "attribute":
                continue
            if not isinstance(keyword.value, nodes.Const):
                return f"{node.name} filter with a computed attribute name"
            if isinstance(keyword.value.value, str):
                return _attribute(keyword.value.value)
    return None


def _call(node: nodes.Call) -> str | None:
    if not (isinstance(node.node, nodes.Name) and node.node.name == "range"):
        return None
    if not all(isinstance(arg, nodes.Const) and isinstance(arg.value, int) for arg in node.args):
        return None
    bounds = [arg.value for arg in node.args if isinstance(arg, nodes.Const)]
    try:
        length = len(range(*bounds))
    except (TypeError, ValueError, OverflowError):
        return "range() with unusable literal bounds"
    if length > MAX_LITERAL_RANGE:
        return f"range of {length} items"
    return None


def _repetition(node: nodes.Mul) -> str | None:
    for side in (node.left, node.right):
        if isinstance(side, nodes.Const) and isinstance(side.value, int) \
                and abs(side.value) > MAX_REPEAT_LITERAL:
            return f"multiplication by {side.value}"
    return None
