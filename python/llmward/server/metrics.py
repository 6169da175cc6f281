"""The server's Prometheus metrics, in the text exposition format 0.0.4, without a
client library: counters, gauges and histograms, and `ServerMetrics`, the one place
that declares what the server exports.

Label values come only from enumerations fixed when a metric is created; anything
else is counted under "other", so no request can add a time series (cardinality is
bounded by the declaration). Every series of the declared values exists from the
start at zero, so rates work from the first scrape. Updates take a per-metric lock:
they come from the event loop and from the engine's thread.

    metrics = ServerMetrics()
    metrics.observe_request("/v1/chat/completions", 200, 0.42)
    web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})
"""

from __future__ import annotations

import abc
import bisect
import itertools
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import ClassVar, TypeVar

from llmward.ratelimit.middleware import RateLimitMetrics, RejectReason
from llmward.server.routes import ROUTES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
MAX_SERIES = 10_000  # per metric: a declaration beyond it is a mistake

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

LabelSpec = Mapping[str, Iterable[str]]
LabelKey = tuple[str, ...]
_M = TypeVar("_M", bound="_Metric")


class _Metric(abc.ABC):
    type: ClassVar[str]

    def __init__(self, name: str, help: str, labels: LabelSpec | None = None) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(f"metric name {name!r} is not valid")
        spec = dict(labels or {})
        for label in spec:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__") or label == "le":
                raise ValueError(f"{name}: label name {label!r} is reserved or not valid")
        self.name, self.help = name, help
        self.label_names: tuple[str, ...] = tuple(spec)
        # Declared values first, in order; "other" catches the rest.
        declared = [tuple(dict.fromkeys(values)) for values in spec.values()]
        self._allowed = [frozenset(values) | {OTHER} for values in declared]
        if math.prod(len(values) + 1 for values in declared) > MAX_SERIES:
            raise ValueError(f"{name}: more than {MAX_SERIES} possible label combinations")
        self._lock = threading.Lock()
        self._initial_keys: list[LabelKey] = list(itertools.product(*declared))

    def _key(self, labels: Mapping[str, str]) -> LabelKey:
        if labels.keys() != set(self.label_names):
            raise ValueError(f"{self.name}: labels must be exactly {list(self.label_names)}, "
                             f"got {sorted(labels)}")
        return tuple(value if value in allowed else OTHER
                     for value, allowed in zip((labels[n] for n in self.label_names),
                                               self._allowed, strict=True))

    def _labels(self, key: LabelKey, extra: tuple[tuple[str, str], ...] = ()) -> str:
        pairs = [*zip(self.label_names, key, strict=True), *extra]
        if not pairs:
            return ""
        return "{" + ",".join(f'{n}="{escape_label_value(v)}"' for n, v in pairs) + "}"

    def render(self) -> Iterator[str]:
        yield f"# HELP {self.name} {escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.type}"
        yield from self._samples()

    @abc.abstractmethod
    def _samples(self) -> Iterator[str]:
        """The sample lines of this metric (each kind renders its own)."""


class _Scalar(_Metric):
    """A value per label combination: counters and gauges."""

    def __init__(self, name: str, help: str, labels: LabelSpec | None = None) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelKey, float] = dict.fromkeys(self._initial_keys, 0.0)

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def _add(self, amount: float, labels: Mapping[str, str]) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def _snapshot(self) -> list[tuple[LabelKey, float]]:
        with self._lock:
            return list(self._values.items())

    def _samples(self) -> Iterator[str]:
        for key, value in self._snapshot():
            yield f"{self.name}{self._labels(key)} {format_value(value)}"


class Counter(_Scalar):
    type = "counter"

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if not amount >= 0 or math.isinf(amount):  # NaN fails the comparison
            raise ValueError(f"{self.name}: a counter only goes up by a finite amount, "
                             f"got {amount}")
        self._add(amount, labels)


class Gauge(_Scalar):
    """Set by the code that knows the value, or read at scrape time from a callback
    (unlabelled gauges only), e.g. the engine's queue length."""

    type = "gauge"

    def __init__(self, name: str, help: str, labels: LabelSpec | None = None, *,
                 callback: Callable[[], float] | None = None) -> None:
        super().__init__(name, help, labels)
        self._callback: Callable[[], float] | None = None
        if callback is not None:
            self.set_callback(callback)

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._add(amount, labels)

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self._add(-amount, labels)

    def set_callback(self, callback: Callable[[], float] | None) -> None:
        if self.label_names:
            raise ValueError(f"{self.name}: a callback gauge has no labels")
        with self._lock:
            self._callback = callback

    def _snapshot(self) -> list[tuple[LabelKey, float]]:
        with self._lock:
            callback = self._callback
        if callback is not None:  # called outside the lock: it may take its own
            return [((), float(callback()))]
        return super()._snapshot()


class Histogram(_Metric):
    """Observations counted in fixed buckets (upper bounds, inclusive), with their
    sum and count; rendered cumulative, ending with `le="+Inf"`."""

    type = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float],
                 labels: LabelSpec | None = None) -> None:
        super().__init__(name, help, labels)
        bounds = [float(b) for b in buckets]
        if not bounds or any(not math.isfinite(b) for b in bounds) or any(
                a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"{name}: buckets must be finite and strictly increasing")
        self.buckets: tuple[float, ...] = tuple(bounds)
        # Per series: a count per bucket (the last for +Inf), then the sum.
        self._series: dict[LabelKey, tuple[list[int], list[float]]] = {
            key: self._empty() for key in self._initial_keys}

    def observe(self, value: float, **labels: str) -> None:
        if math.isnan(value):
            raise ValueError(f"{self.name}: cannot observe NaN")
        key = self._key(labels)
        index = bisect.bisect_left(self.buckets, value)  # first bound >= value
        with self._lock:
            series = self._series.get(key)
            if series is None:  # "other", first seen
                series = self._series[key] = self._empty()
            counts, total = series
            counts[index] += 1
            total[0] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            series = self._series.get(self._key(labels))
            return sum(series[0]) if series else 0

    def _empty(self) -> tuple[list[int], list[float]]:
        return [0] * (len(self.buckets) + 1), [0.0]

    def _samples(self) -> Iterator[str]:
        with self._lock:
            snapshot = [(key, list(counts), total[0])
                        for key, (counts, total) in self._series.items()]
        bounds = [*map(format_value, self.buckets), "+Inf"]
        for key, counts, total in snapshot:
            for bound, cumulative in zip(bounds, itertools.accumulate(counts), strict=True):
                yield f"{self.name}_bucket{self._labels(key, (('le', bound),))} {cumulative}"
            yield f"{self.name}_sum{self._labels(key)} {format_value(total)}"
            yield f"{self.name}_count{self._labels(key)} {sum(counts)}"


class Registry:
    """Metrics by name, rendered in registration order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, _Metric] = {}

    def counter(self, name: str, help: str, labels: LabelSpec | None = None) -> Counter:
        return self._add(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: LabelSpec | None = None, *,
              callback: Callable[[], float] | None = None) -> Gauge:
        return self._add(Gauge(name, help, labels, callback=callback))

    def histogram(self, name: str, help: str, buckets: Sequence[float],
                  labels: LabelSpec | None = None) -> Histogram:
        return self._add(Histogram(name, help, buckets, labels))

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        return "".join(f"{line}\n" for metric in metrics for line in metric.render())

    def _add(self, metric: _M) -> _M:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name!r} registered twice")
            self._metrics[metric.name] = metric
        return metric


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


# --- what the server exports ---------------------------------------------------------

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")  # no final response is 1xx
REJECTION_REASONS = ("queue_full", "deadline", "rate_limited", "concurrency",
                     "backend_unavailable", "auth", "forbidden", "bad_request",
                     "payload_too_large", "guard_blocked")
GUARD_CATEGORIES = ("injection", "pii", "secret", "content", "canary", OTHER)
TOKEN_DIRECTIONS = ("prompt", "completion")
ROUTE_TEMPLATES = tuple(dict.fromkeys(route.path for route in ROUTES))

# Seconds. Whole requests run from milliseconds (refusals) to minutes (long generations).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 120.0, 300.0)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INTER_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# The rate limiter's reasons, in the server's words.
_RATELIMIT_REASONS: Mapping[RejectReason, str] = {
    "requests": "rate_limited", "tokens": "rate_limited", "concurrency": "concurrency",
    "backend_unavailable": "backend_unavailable"}


class ServerMetrics:
    """Every metric the server exports, named `llmward_*`."""

    def __init__(self, routes: Iterable[str] = ROUTE_TEMPLATES) -> None:
        routes = tuple(routes)
        self.registry = registry = Registry()
        self.requests = registry.counter(
            "llmward_requests_total", "HTTP requests answered, by route template and "
            "status class.", {"route": routes, "status": STATUS_CLASSES})
        self.request_latency = registry.histogram(
            "llmward_request_latency_seconds", "Time from request to the end of the "
            "response, by route template.", REQUEST_BUCKETS, {"route": routes})
        self.time_to_first_token = registry.histogram(
            "llmward_time_to_first_token_seconds", "Time from request to the first "
            "completion token.", FIRST_TOKEN_BUCKETS)
        self.inter_token_latency = registry.histogram(
            "llmward_inter_token_latency_seconds", "Time between consecutive completion "
            "tokens of one sequence.", INTER_TOKEN_BUCKETS)
        self.queue_depth = registry.gauge(
            "llmward_queue_depth", "Requests waiting for a sequence slot.")
        self.active_sequences = registry.gauge(
            "llmward_active_sequences", "Sequences being decoded.")
        self.rejections = registry.counter(
            "llmward_rejections_total", "Requests refused before or during inference, "
            "by reason.", {"reason": REJECTION_REASONS})
        self.guard_findings = registry.counter(
            "llmward_guard_findings_total", "Guard findings in prompts and completions, "
            "by category.", {"category": GUARD_CATEGORIES})
        self.tokens = registry.counter(
            "llmward_tokens_total", "Tokens processed: prompt tokens read, completion "
            "tokens generated.", {"direction": TOKEN_DIRECTIONS})
        self.client_disconnects = registry.counter(
            "llmward_client_disconnects_total", "Clients gone before their response ended.")
        self.audit_write_failures = registry.counter(
            "llmward_audit_write_failures_total", "Audit records that could not be written.")

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.inc(route=route, status=status_class(status))
        self.request_latency.observe(seconds, route=route)

    def reject(self, reason: str) -> None:
        self.rejections.inc(reason=reason)

    def guard_finding(self, category: str) -> None:
        """`pii.email` counts as `pii`: the first component, a fixed set."""
        self.guard_findings.inc(category=category.split(".", 1)[0])

    def count_tokens(self, prompt: int = 0, completion: int = 0) -> None:
        self.tokens.inc(prompt, direction="prompt")
        self.tokens.inc(completion, direction="completion")

    def ratelimit_metrics(self) -> RateLimitMetrics:
        """For `setup_ratelimit(..., metrics=...)`: its refusals land in
        `llmward_rejections_total` too."""
        return _ForwardingRateLimitMetrics(self.rejections)

    def render(self) -> str:
        return self.registry.render()


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 200 <= status <= 599 else OTHER


class _ForwardingRateLimitMetrics(RateLimitMetrics):
    def __init__(self, rejections: Counter) -> None:
        super().__init__()
        self._rejections_total = rejections

    def reject(self, reason: RejectReason) -> None:
        super().reject(reason)
        self._rejections_total.inc(reason=_RATELIMIT_REASONS[reason])
