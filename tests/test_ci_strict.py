"""Under CI=true a skipped test fails the run (tests/ci_strict.py); elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MISSING_LIBRARY = "import pytest\n\npytest.importorskip('a_module_nobody_installs')\n\n\ndef test_x():\n    pass\n"
MISSING_TOOL = "import pytest\n\n\ndef test_needs_a_browser():\n    pytest.skip('Chromium not found')\n"


def run_pytest(folder: Path, ci: str | None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "DJANGO_SETTINGS_MODULE")}
    if ci is not None:
        environment["CI"] = ci
    environment["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "pytest", "-p", "tests.ci_strict", "-p", "no:cacheprovider", "-q", str(folder)]
    return subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=120)


def test_a_skip_fails_under_ci_and_names_why(tmp_path):
    for name, source, why in (("library", MISSING_LIBRARY, "a_module_nobody_installs"),
                              ("tool", MISSING_TOOL, "Chromium not found")):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"test_missing_{name}.py").write_text(source)
        strict = run_pytest(folder, "true")
        assert strict.returncode != 0 and "skipped under CI=true" in strict.stdout and why in strict.stdout, (
            strict.stdout
        )
        relaxed = run_pytest(folder, None)
        assert relaxed.returncode in (0, 5) and "1 skipped" in relaxed.stdout, relaxed.stdout  # 5: none collected
