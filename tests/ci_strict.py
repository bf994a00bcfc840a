"""A pytest plugin (loaded by conftest.py): under CI=true a skip fails, naming why. CI installs every tool
the suite needs, so a skip there means a missing Chromium, bundle, Redis or library."""

from __future__ import annotations

import os

import pytest

# The real CT sets are data, not a tool CI installs: their absence stays a skip (it is reported).
DATA_ABSENT = "real CT data not present"


def _skip_is_an_error_in_ci(report) -> None:
    """Under CI=true a skip (a missing Chromium, bundle, Redis or library) fails, naming why."""
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if DATA_ABSENT not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be missing: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _skip_is_an_error_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _skip_is_an_error_in_ci(outcome.get_result())
