"""The benchmark report (benchmarks/make_report.py) built from fixture results: tables with
the right ratios, skipped peers shown, plots drawn, and missing or malformed results refused."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import make_report  # noqa: E402
import report_data  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "data"
    monkeypatch.setenv("LLMWARD_BENCH_RESULTS", str(directory))
    monkeypatch.delenv("LLMWARD_BENCH_SMOKE", raising=False)
    return directory


def write_fixture() -> None:
    time_table = report_data.table(
        "scan time", [report_data.column("us", "time", "µs"),
                      report_data.column("mbs", "rate", "MB/s", better="higher")],
        [report_data.row("ours", {"us": 4.0, "mbs": 1000.0}, ours=True),
         report_data.row("peer", {"us": 12.0, "mbs": 333.0}),
         report_data.row("no figure", {"us": None, "mbs": math.nan})],
        reference="ours", ratio_column="us", skipped={"heavy peer": "not installed (bench)"},
        notes=["a table note"])
    report_data.write(
        "scanner", "Scanner", [time_table],
        plots=[report_data.cdf_plot("latency", "µs", {"ours": [1.0, 2.0, 3.0, 40.0]}),
               report_data.line_plot("throughput", "clients", "tok/s",
                                     {"ours": {1: 10.0, 4: 30.0}, "peer": {1: 9.0}})],
        notes=["a benchmark note"])
    report_data.write("keys", "Keys", [report_data.table(
        "validation", [report_data.column("us", "median", "µs")],
        [report_data.row("valid", {"us": 2.0}, ours=True),
         report_data.row("garbage", {"us": 1.0}, ours=True)],
        reference="valid", ratio_column="us")])


def table_row(report: str, name: str) -> list[str]:
    line = next(ln for ln in report.splitlines() if ln.startswith(f"| {name} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_report_tables_ratios_and_skipped_peers(data: Path, tmp_path: Path) -> None:
    write_fixture()
    out = tmp_path / "out"
    report = make_report.build(data, out, require=["scanner", "keys"]).read_text()

    assert report.index("## Scanner") < report.index("## Keys")  # the report's fixed order
    assert table_row(report, "**ours**") == ["**ours**", "4.00", "1,000", "1.00x"]
    assert table_row(report, "peer") == ["peer", "12.0", "333", "3.00x"]  # 12 µs / 4 µs
    assert table_row(report, "no figure") == ["no figure", "–", "–", "–"]
    assert table_row(report, "**garbage**")[-1] == "0.50x"
    assert table_row(report, "heavy peer")[1] == "skipped: not installed (bench)"
    assert "time vs ours" in report
    assert "- a table note" in report and "- a benchmark note" in report
    assert "commit: " in report and "Smoke run" not in report


def test_report_plots_are_pngs_linked_from_the_report(data: Path, tmp_path: Path) -> None:
    write_fixture()
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "stale.png").write_bytes(PNG_MAGIC)
    report = make_report.build(data, out).read_text()

    pngs = sorted((out / "plots").glob("*.png"))
    # a bar chart per table, the CDF and the line plot
    assert len(pngs) == 4 and not (out / "plots" / "stale.png").exists()
    for png in pngs:
        assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000
        assert f"](plots/{png.name})" in report


def test_smoke_results_are_marked(data: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMWARD_BENCH_SMOKE", "1")
    write_fixture()
    assert json.loads((data / "keys.json").read_text())["smoke"] is True
    assert "Smoke run" in make_report.build(data, tmp_path / "out").read_text()


def test_missing_required_results_fail(data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_fixture()
    status = make_report.main(["--data", str(data), "--out", str(tmp_path / "out"),
                               "--require", "scanner,serving"])
    assert status == 1
    assert "no results from serving" in capsys.readouterr().err
    assert not (tmp_path / "out" / "REPORT.md").exists()


BAD_REFERENCE = json.dumps({
    "schema": 1, "benchmark": "b", "title": "B", "plots": [],
    "tables": [{"title": "t", "columns": [{"key": "us", "label": "time", "unit": "µs",
                                           "better": "lower"}],
                "rows": [{"name": "ours", "ours": True, "values": {"us": 1.0}}],
                "reference": "absent", "ratio_column": "us"}]})


@pytest.mark.parametrize("content", ["{not json", '{"schema": 99}', '{"schema": 1}',
                                     BAD_REFERENCE])
def test_malformed_results_fail(data: Path, tmp_path: Path, content: str) -> None:
    data.mkdir(parents=True)
    (data / "broken.json").write_text(content)
    with pytest.raises(make_report.ReportError, match="broken.json"):
        make_report.build(data, tmp_path / "out")


def test_bad_tables_are_refused_when_written() -> None:
    columns = [report_data.column("us", "time", "µs")]
    rows = [report_data.row("ours", {"us": 1.0})]
    with pytest.raises(ValueError, match="reference row"):
        report_data.table("t", columns, rows, reference="absent", ratio_column="us")
    with pytest.raises(ValueError, match="ratio column"):
        report_data.table("t", columns, rows, reference="ours", ratio_column="absent")
    with pytest.raises(ValueError, match="better"):
        report_data.column("x", "x", "s", better="faster")


def test_percentiles_are_nearest_rank() -> None:
    curve = report_data.percentiles(list(range(1, 101)))  # 1..100
    by_p = dict(zip(curve["p"], curve["v"], strict=True))
    assert by_p[0] == 1 and by_p[50] == 51 and by_p[99] == 100 and by_p[100] == 100


def test_serving_results_one_table_per_concurrency(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")  # serving_load's client (the server extra)
    from dataclasses import dataclass, field

    import serving_report
    from serving_load import Summary

    def summary(tok_s: float, failed: int = 0) -> Summary:
        nan = (math.nan, math.nan)
        return Summary(ttfb_ms=(5.0, 9.0), ttft_ms=(50.0, 90.0), itl_ms=(20.0, 40.0),
                       tpot_ms=nan, e2e_ms=(700.0, 900.0), requests_per_s=1.0,
                       tokens_per_s=tok_s, ok=4, failed=failed, refused=0, truncated=0,
                       health_ms=(1.0, 3.0), health_errors=0, errors=())

    @dataclass
    class Run:
        name: str
        skipped: str | None = None
        by_concurrency: dict[int, Summary] = field(default_factory=dict)
        foreign_cpu_s: dict[int, float] = field(default_factory=dict)

    runs = [Run(serving_report.REFERENCE, by_concurrency={1: summary(20.0), 4: summary(60.0)}),
            Run("other server", by_concurrency={1: summary(10.0), 4: summary(15.0, failed=2)}),
            Run("absent server", skipped="not built")]
    serving_report.write_results(runs, requests=8, max_tokens=32)
    report = make_report.build(data, tmp_path / "out", require=["serving"]).read_text()

    titles = [ln for ln in report.splitlines()
              if ln.startswith("**") and "concurrent streaming clients" in ln]
    assert [t.split()[0] for t in titles] == ["**1", "**4"]  # a table per concurrency
    rows = [ln for ln in report.splitlines() if ln.startswith("| other server |")]
    assert [r.split("|")[-2].strip() for r in rows] == ["0.50x", "0.25x"]  # tok/s ratios
    assert "| absent server | skipped: not built |" in report
    assert "other server: 2 failed, 0 refused (429/503), 0 truncated" in report
