"""The command line for the image bank: deidentify, export (prepare, then confirm), bank import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from qa_meeting.cli import main
from tests.conftest import Run
from tests.imaging.test_deidentify import MARKER, marked_dataset, write


def _json(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_deidentify_a_folder_blocks_a_loop_without_regions_until_masked(
    demo_cli: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write(marked_dataset("one"), folder / "one.dcm")
    bare = marked_dataset("two")
    del bare.SequenceOfUltrasoundRegions
    write(bare, folder / "two.dcm")
    result = demo_cli("deidentify", folder, tmp_path / "out")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith("done") and "regions" in lines[0]
    assert lines[1].startswith("blocked") and "needs a mask" in lines[1] and "--mask" in lines[1]
    assert "1 of 2 file(s) blocked" in result.stderr
    masked = demo_cli(
        "deidentify", folder / "two.dcm", tmp_path / "out2", "--mask", "0,40,239,190", "--json"
    )
    assert masked.exit_code == 0
    [row] = _json(masked.stdout)
    assert row["status"] == "done" and row["report"]["pixel_method"] == "mask"
    for path in (tmp_path / "out2").iterdir():
        assert MARKER.encode() not in path.read_bytes() and MARKER not in path.name
    assert demo_cli("deidentify", folder, tmp_path / "x", "--mask", "nonsense").exit_code == 2


def test_export_prepares_then_publishes_on_confirmation(demo_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "export"
    prepared = demo_cli("export", "--meeting", "1", "--out", out)
    assert prepared.exit_code == 0, prepared.output
    assert prepared.stdout.count("awaiting confirmation") == 2
    sheets = sorted((out / "review").iterdir())
    assert len(sheets) == 2 and all(str(s) in prepared.stdout for s in sheets)
    [first, _] = _json(demo_cli("export", "--meeting", "1", "--out", out, "--json").stdout)
    published = demo_cli(
        "export", "--case", first["study_id"], "--out", out, "--confirm-reviewed", "--json"
    )
    assert published.exit_code == 0, published.output
    [row] = _json(published.stdout)
    assert row["status"] == "published"
    [archive] = row["files"]
    assert Path(archive).parent == out and Path(archive).suffix == ".zip"
    again = demo_cli("export", "--case", first["study_id"], "--out", out)
    assert again.exit_code == 2 and "in the image bank already" in again.stdout

    other = tmp_path / "other-site"
    imported = run_elsewhere(other, "bank", "import", archive, "--source", "Fernside")
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith("added bank case 1: FUSIC Heart")
    twice = run_elsewhere(other, "bank", "import", archive)
    assert twice.exit_code == 2 and "already in the bank" in twice.stderr


def run_elsewhere(data_dir: Path, *args: str | Path) -> Result:
    """The command at another site (its own data folder)."""
    env = {"QA_MEETING_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def test_export_refusals_exit_2_with_the_reason(demo_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    neither = demo_cli("export", "--out", out)
    assert neither.exit_code == 2 and "--case or --meeting" in neither.stderr
    unprepared = demo_cli("export", "--meeting", "1", "--out", out, "--confirm-reviewed", "--json")
    assert unprepared.exit_code == 2
    rows = _json(unprepared.stdout)
    assert len(rows) == 2 and all("has no export to confirm" in r["message"] for r in rows)
    approved = {r["study_id"] for r in rows}
    listed = _json(demo_cli("scans", "list", "--json").stdout)
    other = next(r["study_id"] for r in listed if r["study_id"] not in approved)
    not_approved = demo_cli("export", "--case", other, "--out", out, "--json")
    assert not_approved.exit_code == 2
    [row] = _json(not_approved.stdout)
    assert row["status"] == "refused" and "not approved for the image bank" in row["message"]
    assert not out.exists() or not list(out.glob("*.zip"))


def test_bank_import_refuses_a_tampered_package(demo_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "export"
    case = _json(demo_cli("export", "--meeting", "1", "--out", out, "--json").stdout)[0]["study_id"]
    published = demo_cli("export", "--case", case, "--out", out, "--confirm-reviewed", "--json")
    [archive] = _json(published.stdout)[0]["files"]
    folder = tmp_path / "unzipped"
    shutil.unpack_archive(archive, folder)
    (folder / "manifest.json").write_text(
        (folder / "manifest.json").read_text().replace("FUSIC Heart", "FUSIC Hearts")
    )
    refused = run_elsewhere(tmp_path / "elsewhere", "bank", "import", folder)
    assert refused.exit_code == 2
    assert "changed after export" in refused.stderr and "what to do:" in refused.stderr
