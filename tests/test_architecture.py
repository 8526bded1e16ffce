"""The layer rules of ARCHITECTURE.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "qa_meeting"
QUERY_BUILDERS = {"select", "col", "func", "text", "update", "delete", "insert", "or_", "and_"}


def _sources() -> list[Path]:
    return [ROOT / "app.py", *sorted(PACKAGE.rglob("*.py"))]


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, set[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, set()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, {alias.name for alias in node.names}))
    return found


def _layer(path: Path) -> str:
    relative = path.relative_to(ROOT).as_posix()
    if relative == "app.py":
        return "app"
    parts = relative.split("/")
    return parts[1] if len(parts) > 2 else parts[1].removesuffix(".py")


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_layer_rules(path: Path) -> None:
    layer = _layer(path)
    for module, names in _imports(path):
        top = _top(module)
        if top == "streamlit":
            assert layer in {"app", "pages", "ui"}, f"{path.name}: streamlit outside the UI layer"
        if top == "pydicom":
            assert layer == "imaging", f"{path.name}: pydicom outside imaging/"
        if top in {"sqlmodel", "sqlalchemy"} and layer != "store":
            builders = names & QUERY_BUILDERS
            assert not builders, f"{path.name}: builds queries ({builders}) outside store/"
        if layer == "domain":
            assert top not in {"streamlit", "pydicom", "sqlmodel", "sqlalchemy", "pathlib"}, (
                f"{path.name}: domain imports {module}"
            )
            assert not module.startswith(("qa_meeting.store", "qa_meeting.services")), (
                f"{path.name}: domain imports {module}"
            )
            assert not module.startswith(("qa_meeting.imaging", "qa_meeting.ui")), module
        if layer == "app":
            assert not module.startswith(("qa_meeting.services", "qa_meeting.store")), module


def test_no_module_is_too_long() -> None:
    long = [p.name for p in _sources() if len(p.read_text(encoding="utf-8").splitlines()) > 400]
    assert not long, f"split these modules: {long}"
