"""The house: the core (`ildplatform`) imports nothing above it, and `inference` does not import
`annotations`. Checked by parsing every module's imports, function-level ones included."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# app -> the apps above it that it must not import
FORBIDDEN = {
    "ildplatform": ("annotations", "inference", "interop", "frontend"),
    "inference": ("annotations", "interop", "frontend"),
    "annotations": ("interop", "frontend"),
}


def imported_modules(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "import_string",
            "__import__",
        ):
            found.extend((node.lineno, arg.value) for arg in node.args if isinstance(arg, ast.Constant))
    return found


def layering_violations(app: str, forbidden: tuple[str, ...]) -> list[str]:
    violations = []
    for path in sorted((REPO_ROOT / app).rglob("*.py")):
        for line, module in imported_modules(path.read_text()):
            if str(module).split(".")[0] in forbidden:
                violations.append(f"{path.relative_to(REPO_ROOT)}:{line} imports {module}")
    return violations


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_app_does_not_import_the_apps_above_it(app):
    assert layering_violations(app, FORBIDDEN[app]) == []


def test_the_import_check_sees_every_kind_of_import():
    source = (
        "import annotations.models\n"
        "from inference import services\n"
        "def f():\n    from annotations.access import x\n"
        "import_string('inference.services.run')\n"
        "from . import labels\n"
    )
    modules = [module.split(".")[0] for _, module in imported_modules(source)]
    assert modules == ["annotations", "inference", "annotations", "inference"]


GLOBAL_ASSIGNMENT = re.compile(r"\b(window|globalThis)\s*(\.\s*\w+|\[[^\]]+\])\s*=(?!=)")


def test_the_viewer_bundle_sets_no_globals_for_tests():
    """Tests watch what a user sees (DOM, canvas) and what the server stored; the bundle exports nothing."""
    sources = sorted((REPO_ROOT / "frontend" / "viewer" / "src").rglob("*.js"))
    assert sources
    assignments = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if GLOBAL_ASSIGNMENT.search(line)
    ]
    assert assignments == []


def test_the_global_check_sees_an_assignment():
    assert GLOBAL_ASSIGNMENT.search("  window.ildViewer = { viewer };")
    assert GLOBAL_ASSIGNMENT.search("globalThis['hook'] = x;")
    assert not GLOBAL_ASSIGNMENT.search("if (window.devicePixelRatio === 2) {")
