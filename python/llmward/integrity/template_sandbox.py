"""A Jinja environment for untrusted chat templates: jinja2's immutable sandbox
(no underscore attributes, no mutation of lists or dicts) plus limits on what a
template can make the process allocate or spend.

The sandbox alone stops code execution but not resource exhaustion: `'x' * 10**10`,
`9 ** 9 ** 9`, `'a'|center(10**10)` or a string doubled in a loop each take the
process down. Here every operator, call, filter and concatenation that can grow a
value is checked against the render's size budget *before* it runs, and a trace
hook stops the template's own code once the render's deadline has passed.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import string
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any, TypeVar

import jinja2
from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

T = TypeVar("T")

TEMPLATE_FILENAME = "<chat template>"
MAX_RANGE = 10_000  # items in one range(); chat templates loop over messages
MAX_ITEMS = 1 << 16  # items in a list, tuple or batch a template builds
MAX_INT_BITS = 4096  # integers a template computes
MAX_TOJSON_INDENT = 16
MAX_NODES = 100_000  # containers and items in one value: bounds the cost of measuring it


class LimitExceeded(Exception):
    """A template tried to go past a size or time limit of the render."""


class TemplateRaised(Exception):
    """The template called raise_exception() (a refusal of its input)."""


class _Timeout(BaseException):
    """Raised from the trace hook; a BaseException so no `except Exception` in
    Jinja's runtime can swallow it."""


@dataclass(frozen=True, slots=True)
class Budget:
    max_chars: int  # any string (and the rendered footprint of any value)
    deadline: float  # time.monotonic() value


_BUDGET: ContextVar[Budget] = ContextVar("llmward_template_budget")
_NO_RENDER = Budget(max_chars=1 << 21, deadline=float("inf"))


def _budget() -> Budget:
    return _BUDGET.get(_NO_RENDER)


def run_limited(work: Callable[[], T], max_chars: int, timeout: float) -> T:
    """Run `work` (a render) under a size budget and a deadline, in this thread only.

    No context manager on purpose: its __exit__ is a Python call, which the trace
    hook could interrupt past the deadline, skipping the restore below."""
    token = _BUDGET.set(Budget(max_chars, time.monotonic() + timeout))
    previous = sys.gettrace()
    sys.settrace(_tracer(_BUDGET.get().deadline))
    try:
        return work()
    except _Timeout:
        raise LimitExceeded(f"rendering took longer than {timeout:g} s") from None
    finally:
        sys.settrace(previous)
        _BUDGET.reset(token)


# Code a render runs: the template, jinja2 and this module's helpers. The
# deadline is enforced only in their frames: a call the interpreter makes on
# this thread for someone else (a gc callback, a weakref finalizer) must not
# get the render's timeout raised inside it.
_RENDER_CODE = (os.path.dirname(jinja2.__file__) + os.sep, __file__)


def _in_render(frame: FrameType) -> bool:
    name = frame.f_code.co_filename
    return name == TEMPLATE_FILENAME or name.startswith(_RENDER_CODE)


def _tracer(deadline: float) -> Callable[[FrameType, str, Any], Any]:
    """Checks the deadline at every call into the render's code, and at every
    line of the compiled template's own code (its loops run no other Python code)."""

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Timeout
        return local

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        if not _in_render(frame):
            return None
        if time.monotonic() > deadline:
            raise _Timeout
        return local if frame.f_code.co_filename == TEMPLATE_FILENAME else None

    return on_call


def footprint(value: Any, limit: int) -> int:
    """Roughly how many characters `value` takes when rendered, counting shared
    references each time they occur (as str() would); stops past `limit`. A value
    of more than MAX_NODES items counts as over the limit."""
    total = 0
    stack = [value]
    nodes_left = MAX_NODES
    while stack:
        nodes_left -= 1
        if nodes_left < 0:
            return limit + 1
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 4
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, Namespace):  # its repr shows everything it holds
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, Mapping):
            if len(item) * 2 > nodes_left:
                return limit + 1
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, Collection):  # lists, tuples, sets, dict views...
            if len(item) > nodes_left:
                return limit + 1
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 8
        if total > limit:
            return limit + 1
    return total


def check_size(*values: Any, extra: int = 0) -> None:
    """Refuse values whose rendered size (plus `extra` characters) exceeds the budget."""
    limit = _BUDGET.get(_NO_RENDER).max_chars
    total = extra
    for value in values:
        # Strings inline: every call into Python costs a trip through the trace hook.
        total += len(value) if type(value) is str else footprint(value, limit)
        if total > limit:
            raise LimitExceeded(f"a value of over {limit} characters")


def _check_int_args(args: Iterable[Any]) -> None:
    limit = _BUDGET.get(_NO_RENDER).max_chars
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limit:
            raise LimitExceeded(f"numeric argument {arg} is over the {limit} limit")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_formatted_size(fmt: str, fields: int, widths: int, args: Any) -> None:
    """A format result is at most the format, its widths, and every field being the
    largest argument (a field may name the same argument many times)."""
    limit = _budget().max_chars
    size = len(fmt) + widths + fields * footprint(args, limit)
    if size > limit:
        raise LimitExceeded(f"a formatted string of over {limit} characters")


def _check_percent_format(fmt: str, args: Any) -> None:
    """`fmt % args`: widths and precisions, literal or `*`, count towards the result."""
    values = args if isinstance(args, tuple) else (args,)
    _check_int_args(values)
    specs = list(_PERCENT_SPEC.finditer(fmt))
    widths = sum(int(n) for m in specs for n in m.groups() if n is not None and n != "*")
    if "*" in fmt:
        widths += sum(abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool))
    _check_formatted_size(fmt, len(specs), widths, args)


def _check_brace_format(fmt: str, args: Any, kwargs: Any) -> None:
    """str.format: no nested fields in a format spec; widths count towards the result."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as error:
        raise LimitExceeded(f"bad format string: {error}") from None
    widths = 0
    for _literal, _field, spec, _conversion in parsed:
        if spec and "{" in spec:
            raise LimitExceeded("nested fields in a format spec")
        widths += sum(int(n) for n in re.findall(r"\d+", spec or ""))
    _check_formatted_size(fmt, len(parsed), widths, (args, kwargs))


def _check_binop(operator: str, left: Any, right: Any) -> None:
    both_ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and both_ints and abs(left) > 1 and right > 0:
        if left.bit_length() * right > MAX_INT_BITS:
            raise LimitExceeded(f"{left} ** {right} is over {MAX_INT_BITS} bits")
    elif operator == "*" and both_ints:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"a product over {MAX_INT_BITS} bits")
    elif operator == "*":
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(times, int) \
                and times > 0:
            if isinstance(sequence, (list, tuple)) and len(sequence) * times > MAX_ITEMS:
                raise LimitExceeded(f"a sequence of over {MAX_ITEMS} items")
            limit = _budget().max_chars
            if footprint(sequence, limit) * times > limit:
                raise LimitExceeded(f"a value of over {limit} characters")
    elif operator == "+" and isinstance(left, (str, bytes, list, tuple)):
        if not isinstance(left, str) and isinstance(right, (list, tuple)):
            if len(left) + len(right) > MAX_ITEMS:
                raise LimitExceeded(f"a sequence of over {MAX_ITEMS} items")
        check_size(left, right)
    elif operator == "%" and isinstance(left, str):
        _check_percent_format(left, right)
    elif operator == "%" and isinstance(left, bytes):
        _check_percent_format(left.decode("latin-1"), right)


def _check_str_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Bound the str (and bytes) methods whose result can outgrow their inputs."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, (str, bytes)):
        return
    name = getattr(method, "__name__", "")
    if name == "join" and args:
        check_size(args[0], extra=len(owner) * _length(args[0]))
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        hits = owner.count(old) if old else len(owner) + 1
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            hits = min(hits, args[2])
        check_size(owner, extra=hits * max(0, _length(new) - _length(old)))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        check_size(owner, extra=tabs * (size if isinstance(size, int) else 0))
    elif name == "translate" and args:
        check_size(owner, extra=len(owner) * footprint(args[0], _budget().max_chars))


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _first_argument(func: Callable[..., Any]) -> str | None:
    """What Jinja passes a filter before its value (@pass_context and the like)."""
    marker = getattr(func, "jinja_pass_arg", None)
    name = getattr(marker, "name", None)
    return name if isinstance(name, str) else None


# Filters that select or count rather than render their input: measuring the input
# first (a whole conversation, on every call in a loop) would only cost time.
_SELECTING_FILTERS = frozenset({
    "length", "count", "first", "last", "default", "d", "select", "reject", "selectattr",
    "rejectattr", "map", "list", "sort", "unique", "reverse", "items", "dictsort",
    "groupby", "min", "max", "sum", "batch", "slice", "abs", "int", "float", "round",
    "attr", "random",
})


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter with its arguments and result checked. It always takes the context,
    which also keeps Jinja from running it at compile time, outside any budget."""
    first = _first_argument(func)
    measure_from = 1 if name in _SELECTING_FILTERS else 0

    @pass_context
    @functools.wraps(func)
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        _check_int_args(args[1:])
        _check_int_args(kwargs.values())
        check_size(*args[measure_from:], *kwargs.values())
        if first == "context":
            result = func(context, *args, **kwargs)
        elif first == "eval_context":
            result = func(context.eval_ctx, *args, **kwargs)
        elif first == "environment":
            result = func(context.environment, *args, **kwargs)
        else:
            result = func(*args, **kwargs)
        check_size(result)
        return result

    return guarded


# Pre-checks for the filters whose output can be much larger than their input. Each
# takes the filter's own parameter names, so keyword arguments land the same way.
def _indent_bound(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> None:
    lines = str(s).count("\n") + 1
    pad = len(width) if isinstance(width, str) else int(width)
    check_size(s, extra=lines * max(pad, 0))


def _join_bound(value: Any, d: Any = "", attribute: Any = None) -> None:
    check_size(value, extra=len(str(d)) * _length(value))


def _replace_bound(s: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    text, old_s, new_s = str(s), str(old), str(new)
    hits = text.count(old_s) if old_s else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    check_size(text, extra=hits * max(0, len(new_s) - len(old_s)))


def _format_bound(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_percent_format(str(value), kwargs or args)


def _batch_bound(value: Any, linecount: Any = 0, fill_with: Any = None) -> None:
    _check_count(linecount)


def _slice_bound(value: Any, slices: Any = 0, fill_with: Any = None) -> None:
    _check_count(slices)


def _sum_bound(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
    # Summing lists or strings is quadratic, and runs in C out of the tracer's reach.
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise LimitExceeded("sum() with a non-numeric start")


def _check_count(count: Any) -> None:
    if isinstance(count, int) and count > MAX_ITEMS:
        raise LimitExceeded(f"{count} items is over the {MAX_ITEMS} limit")


_FILTER_BOUNDS: dict[str, Callable[..., None]] = {
    "indent": _indent_bound, "join": _join_bound, "replace": _replace_bound,
    "format": _format_bound, "batch": _batch_bound, "slice": _slice_bound,
    "sum": _sum_bound,
}


def _with_bound(func: Callable[..., Any], bound: Callable[..., None]) -> Callable[..., Any]:
    """The filter, its input made countable and its output size checked first."""
    skip = 1 if _first_argument(func) else 0

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if len(args) > skip:
            args = (*args[:skip], materialize(args[skip]), *args[skip + 1:])
        bound(*args[skip:], **kwargs)
        return func(*args, **kwargs)

    return bounded


def materialize(value: Any) -> Any:
    """A list of an iterator's items (at most MAX_ITEMS), so that sizes computed
    from it hold; collections and non-iterables are returned as they are."""
    if isinstance(value, Collection) or not isinstance(value, Iterable):
        return value
    items = list(itertools.islice(value, MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise LimitExceeded(f"a sequence of over {MAX_ITEMS} items")
    return items


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | str | None = None,
            separators: Any = None, sort_keys: bool = False) -> str:
    """As Hugging Face's tojson: plain JSON, no HTML escaping."""
    width = len(indent) if isinstance(indent, str) else indent
    if width is not None and not 0 <= width <= MAX_TOJSON_INDENT:
        raise LimitExceeded(f"tojson indent {indent!r} is over {MAX_TOJSON_INDENT}")
    seps = tuple(separators) if separators is not None else None
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=seps,
                      sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise TemplateRaised(str(message))


def _strftime_now(fmt: str) -> str:
    if len(fmt) > 64 or re.search(r"%[^A-Za-z%]*\d", fmt):
        raise LimitExceeded("strftime_now: format too long or with a field width")
    return datetime.now().strftime(fmt)


def _bounded_range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE:
        raise LimitExceeded(f"range of {len(items)} items is over the {MAX_RANGE} limit")
    return items


def _bounded_concat(parts: Iterable[Any]) -> str:
    """Joins rendered buffers (blocks, macros, {% set %} blocks) within the budget."""
    limit = _budget().max_chars
    kept: list[str] = []
    total = 0
    for part in parts:
        total += len(part)
        if total > limit:
            raise LimitExceeded(f"a value of over {limit} characters")
        kept.append(part)
    return "".join(kept)


def _tilde_join(parts: tuple[Any, ...]) -> str:
    """The `~` operator, checked before anything is converted to str."""
    check_size(*parts)
    return "".join(str(part) for part in parts)


def _finalize(value: Any) -> Any:
    """Every `{{ ... }}` value, checked before Jinja converts it to str."""
    if type(value) is not str:
        check_size(value)
    return value


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a checked join (stock Jinja calls an unhookable helper)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.tilde_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The environment chat templates are compiled and rendered in."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True, finalize=_finalize,
                         extensions=["jinja2.ext.loopcontrols"])
        self.concat = _bounded_concat  # type: ignore[method-assign]
        self.tilde_join = _tilde_join
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)
        self.globals.update(range=_bounded_range, raise_exception=_raise_exception,
                            strftime_now=_strftime_now)
        filters: dict[str, Callable[..., Any]] = dict(self.filters)
        filters["tojson"] = _tojson
        for name, bound in _FILTER_BOUNDS.items():
            filters[name] = _with_bound(filters[name], bound)
        self.filters = {name: _guard_filter(name, func) for name, func in filters.items()}

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and type(left) is str and type(right) is str:
            if len(left) + len(right) > _BUDGET.get(_NO_RENDER).max_chars:
                raise LimitExceeded("a string over the size budget")
            return left + right  # the common case, without a further call
        _check_binop(operator, left, right)
        result = self.binop_table[operator](left, right)
        if isinstance(result, (list, tuple)) and len(result) > MAX_ITEMS:
            raise LimitExceeded(f"a sequence of over {MAX_ITEMS} items")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_int_args(args)
        _check_int_args(kwargs.values())
        check_size(*args, *kwargs.values())
        if args and getattr(obj, "__name__", "") == "join":
            args = (materialize(args[0]), *args[1:])  # str.join(generator): count it first
        _check_str_method(obj, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        check_size(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__
        sandboxed_format = wrapped

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_brace_format(fmt, args, kwargs)
            return sandboxed_format(*args, **kwargs)

        return checked
