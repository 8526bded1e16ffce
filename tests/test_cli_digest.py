"""``qa-meeting digest MEETING_ID --out DIR``: both files written, refusals exit 2."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qa_meeting.cli import main

Run = Callable[..., Result]


@pytest.fixture
def run(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``qa-meeting`` over a private copy of the demo data."""
    shutil.copytree(demo_template, tmp_path / "data")
    monkeypatch.setenv("QA_MEETING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QA_MEETING_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_digest_writes_the_html_and_the_pdf(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "out" / "digest"
    result = run("digest", "1", "--out", out)
    assert result.exit_code == 0, result.output
    html, pdf = out / "digest.html", out / "digest.pdf"
    assert result.output.splitlines() == [f"html: {html}", f"pdf: {pdf}"]
    assert "Case 1: FUSIC Heart" in html.read_text(encoding="utf-8")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in out.iterdir()) == ["digest.html", "digest.pdf"]


def test_an_unknown_meeting_is_refused_with_the_remedy(run: Run, tmp_path: Path) -> None:
    result = run("digest", "42", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "error: Meeting 42 was not found." in result.output
    assert "what to do:" in result.output and "meetings list" in result.output
    assert not (tmp_path / "out").exists()
