"""``qa-meeting digest MEETING_ID --out DIR``: both files written, refusals exit 2."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Run


def test_digest_writes_the_html_and_the_pdf(demo_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "out" / "digest"
    result = demo_cli("digest", "1", "--out", out)
    assert result.exit_code == 0, result.output
    html, pdf = out / "digest.html", out / "digest.pdf"
    assert result.output.splitlines() == [f"html: {html}", f"pdf: {pdf}"]
    assert "Case 1: FUSIC Heart" in html.read_text(encoding="utf-8")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in out.iterdir()) == ["digest.html", "digest.pdf"]


def test_an_unknown_meeting_is_refused_with_the_remedy(demo_cli: Run, tmp_path: Path) -> None:
    result = demo_cli("digest", "42", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "error: Meeting 42 was not found." in result.output
    assert "what to do:" in result.output and "meetings list" in result.output
    assert not (tmp_path / "out").exists()
