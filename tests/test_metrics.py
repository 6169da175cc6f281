"""The Prometheus registry: exact exposition text, escaping, bounded label values,
cumulative histogram buckets, updates from many threads; and the server's metrics."""

from __future__ import annotations

import math
import threading

import pytest

from llmward.ratelimit.middleware import RateLimitMetrics
from llmward.server.metrics import (
    CONTENT_TYPE,
    GUARD_CATEGORIES,
    REJECTION_REASONS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    ServerMetrics,
    format_value,
    status_class,
)


def test_exposition_text_of_a_small_registry_is_exact() -> None:
    registry = Registry()
    requests = registry.counter("app_requests_total", "Requests.",
                                {"route": ("/a", "/b"), "code": ("2xx", "5xx")})
    depth = registry.gauge("app_queue_depth", "Waiting requests.")
    latency = registry.histogram("app_latency_seconds", "Latency.", (0.1, 1.0))
    requests.inc(route="/a", code="2xx")
    requests.inc(2, route="/b", code="5xx")
    depth.set(3)
    latency.observe(0.05)
    latency.observe(0.1)  # bounds are inclusive
    latency.observe(0.5)
    latency.observe(7.25)
    assert registry.render() == (
        "# HELP app_requests_total Requests.\n"
        "# TYPE app_requests_total counter\n"
        'app_requests_total{route="/a",code="2xx"} 1\n'
        'app_requests_total{route="/a",code="5xx"} 0\n'
        'app_requests_total{route="/b",code="2xx"} 0\n'
        'app_requests_total{route="/b",code="5xx"} 2\n'
        "# HELP app_queue_depth Waiting requests.\n"
        "# TYPE app_queue_depth gauge\n"
        "app_queue_depth 3\n"
        "# HELP app_latency_seconds Latency.\n"
        "# TYPE app_latency_seconds histogram\n"
        'app_latency_seconds_bucket{le="0.1"} 2\n'
        'app_latency_seconds_bucket{le="1"} 3\n'
        'app_latency_seconds_bucket{le="+Inf"} 4\n'
        "app_latency_seconds_sum 7.9\n"
        "app_latency_seconds_count 4\n"
    )
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_label_values_and_help_are_escaped() -> None:
    registry = Registry()
    odd = 'a\\b"c\nd'
    counter = registry.counter("odd_total", "Help with \\ and\nnewline.", {"kind": (odd,)})
    counter.inc(kind=odd)
    assert registry.render() == (
        "# HELP odd_total Help with \\\\ and\\nnewline.\n"
        "# TYPE odd_total counter\n"
        'odd_total{kind="a\\\\b\\"c\\nd"} 1\n'
    )


def test_unknown_label_values_are_counted_as_other() -> None:
    counter = Counter("c_total", "C.", {"reason": ("a", "b")})
    for i in range(1000):
        counter.inc(reason=f"attacker-chosen-{i}")
    counter.inc(reason="a")
    lines = [line for line in "\n".join(counter.render()).splitlines()
             if not line.startswith("#")]
    assert lines == ['c_total{reason="a"} 1', 'c_total{reason="b"} 0',
                     'c_total{reason="other"} 1000']
    assert counter.value(reason="whatever") == 1000


def test_labels_must_be_the_declared_names() -> None:
    counter = Counter("c_total", "C.", {"reason": ("a",)})
    with pytest.raises(ValueError, match="labels must be exactly"):
        counter.inc()
    with pytest.raises(ValueError, match="labels must be exactly"):
        counter.inc(reason="a", extra="x")


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b"])
def test_metric_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError):
        Counter(name, "x")


@pytest.mark.parametrize("label", ["le", "__reserved", "a-b"])
def test_label_names_are_validated(label: str) -> None:
    with pytest.raises(ValueError):
        Counter("c_total", "x", {label: ("a",)})


def test_cardinality_is_bounded_at_declaration() -> None:
    many = [str(i) for i in range(200)]
    with pytest.raises(ValueError, match="label combinations"):
        Counter("c_total", "x", {"a": many, "b": many})


def test_counters_only_go_up_by_finite_amounts() -> None:
    counter = Counter("c_total", "x")
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            counter.inc(bad)
    counter.inc(0.5)
    assert counter.value() == 0.5


def test_gauge_set_inc_dec_and_callback() -> None:
    gauge = Gauge("g", "x", {"pool": ("a",)})
    gauge.set(5, pool="a")
    gauge.inc(pool="a")
    gauge.dec(3, pool="a")
    assert gauge.value(pool="a") == 3
    with pytest.raises(ValueError, match="no labels"):
        gauge.set_callback(lambda: 1.0)
    depth = [7]
    live = Gauge("live", "x", callback=lambda: depth[0])
    assert list(live.render())[-1] == "live 7"
    depth[0] = 9
    assert list(live.render())[-1] == "live 9"


def test_histogram_buckets_are_cumulative_and_per_series() -> None:
    histogram = Histogram("h_seconds", "x", (1, 2, 4), {"route": ("/a", "/b")})
    for value in (0.5, 1.5, 1.5, 3, 3, 3, 100):
        histogram.observe(value, route="/a")
    histogram.observe(-1, route="/b")  # below every bound: counted in the first
    text = "\n".join(histogram.render())
    assert 'h_seconds_bucket{route="/a",le="1"} 1\n' in text
    assert 'h_seconds_bucket{route="/a",le="2"} 3\n' in text
    assert 'h_seconds_bucket{route="/a",le="4"} 6\n' in text
    assert 'h_seconds_bucket{route="/a",le="+Inf"} 7\n' in text
    assert 'h_seconds_count{route="/a"} 7' in text
    assert 'h_seconds_sum{route="/a"} 112.5' in text
    assert 'h_seconds_bucket{route="/b",le="1"} 1\n' in text
    assert histogram.count(route="/b") == 1
    with pytest.raises(ValueError):
        histogram.observe(math.nan, route="/a")


@pytest.mark.parametrize("buckets", [(), (1, 1), (2, 1), (1, math.inf), (math.nan,)])
def test_histogram_buckets_are_validated(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        Histogram("h", "x", buckets)


def test_duplicate_names_are_refused() -> None:
    registry = Registry()
    registry.counter("c_total", "x")
    with pytest.raises(ValueError, match="twice"):
        registry.gauge("c_total", "x")


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (3.0, "3"), (0.25, "0.25"), (1e20, "1e+20"), (-2.0, "-2"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN")])
def test_value_format(value: float, text: str) -> None:
    assert format_value(value) == text


def test_updates_from_many_threads_are_not_lost() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "x", {"kind": ("a", "b")})
    histogram = registry.histogram("h", "x", (0.5,))
    gauge = registry.gauge("g", "x")
    threads, rounds = 8, 5000
    start = threading.Barrier(threads)

    def work(i: int) -> None:
        start.wait()
        for _ in range(rounds):
            counter.inc(kind="a" if i % 2 else "b")
            histogram.observe(0.25)
            gauge.inc()
            gauge.dec()
            registry.render()  # scrapes interleaved with updates

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counter.value(kind="a") + counter.value(kind="b") == threads * rounds
    assert histogram.count() == threads * rounds
    assert gauge.value() == 0


def test_server_metrics_declares_every_metric() -> None:
    metrics = ServerMetrics()
    metrics.observe_request("/v1/chat/completions", 200, 0.3)
    metrics.observe_request("/no/such/route", 404, 0.001)
    metrics.reject("queue_full")
    metrics.reject("made-up")
    metrics.guard_finding("pii.email")
    metrics.guard_finding("secret.aws_access_key")
    metrics.guard_finding("injection")
    metrics.guard_finding("novel.thing")
    metrics.count_tokens(prompt=12, completion=5)
    metrics.time_to_first_token.observe(0.2)
    metrics.inter_token_latency.observe(0.02)
    metrics.queue_depth.set_callback(lambda: 2)
    metrics.active_sequences.set(1)
    metrics.client_disconnects.inc()
    metrics.audit_write_failures.inc()
    text = metrics.render()
    for line in (
        'llmward_requests_total{route="/v1/chat/completions",status="2xx"} 1',
        'llmward_requests_total{route="other",status="4xx"} 1',
        'llmward_request_latency_seconds_count{route="/v1/chat/completions"} 1',
        'llmward_rejections_total{reason="queue_full"} 1',
        'llmward_rejections_total{reason="other"} 1',
        'llmward_guard_findings_total{category="pii"} 1',
        'llmward_guard_findings_total{category="secret"} 1',
        'llmward_guard_findings_total{category="injection"} 1',
        'llmward_guard_findings_total{category="other"} 1',
        'llmward_tokens_total{direction="prompt"} 12',
        'llmward_tokens_total{direction="completion"} 5',
        "llmward_time_to_first_token_seconds_count 1",
        "llmward_inter_token_latency_seconds_count 1",
        "llmward_queue_depth 2",
        "llmward_active_sequences 1",
        "llmward_client_disconnects_total 1",
        "llmward_audit_write_failures_total 1",
    ):
        assert f"\n{line}\n" in text, line
    for reason in REJECTION_REASONS:  # every declared series exists from the start
        assert f'llmward_rejections_total{{reason="{reason}"}}' in text
    for category in GUARD_CATEGORIES:
        assert f'llmward_guard_findings_total{{category="{category}"}}' in text
    # Every sample line is `name{labels} value`, every metric has HELP and TYPE.
    for line in text.splitlines():
        assert line.startswith("# HELP llmward_") or line.startswith("# TYPE llmward_") or (
            line.startswith("llmward_") and len(line.rsplit(" ", 1)) == 2)


def test_ratelimit_refusals_reach_the_rejection_counter() -> None:
    metrics = ServerMetrics()
    forwarding = metrics.ratelimit_metrics()
    assert isinstance(forwarding, RateLimitMetrics)
    for reason in ("requests", "tokens", "concurrency", "backend_unavailable"):
        forwarding.reject(reason)
    assert forwarding.rejections == {"requests": 1, "tokens": 1, "concurrency": 1,
                                     "backend_unavailable": 1}
    assert metrics.rejections.value(reason="rate_limited") == 2
    assert metrics.rejections.value(reason="concurrency") == 1
    assert metrics.rejections.value(reason="backend_unavailable") == 1


@pytest.mark.parametrize(("status", "label"), [
    (200, "2xx"), (204, "2xx"), (301, "3xx"), (404, "4xx"), (413, "4xx"), (503, "5xx"),
    (101, "other"), (0, "other"), (600, "other")])
def test_status_class(status: int, label: str) -> None:
    metrics = ServerMetrics(routes=("/r",))
    metrics.observe_request("/r", status, 0.0)
    assert status_class(status) == label
    assert metrics.requests.value(route="/r", status=label) == 1
