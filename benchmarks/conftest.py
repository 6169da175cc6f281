"""Prints the benchmarks' summary after pytest-benchmark's tables, even under -q and without -s."""

from __future__ import annotations

import pytest

_SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def summary_lines(request: pytest.FixtureRequest) -> list[str]:
    """Lines a benchmark module wants printed at the end of the session."""
    return request.config.stash.setdefault(_SUMMARY, [])


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own table
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(_SUMMARY, [])
    if lines:
        terminalreporter.write_sep("-", "benchmark summary")
        for line in lines:
            terminalreporter.write_line(line)
