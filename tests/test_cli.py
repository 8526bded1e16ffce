"""The qa-meeting command: every sub-command, its JSON and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qa_meeting.cli import main
from tests.samples import manifest_rows, samples_dir


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QA_MEETING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("QA_MEETING_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_ingest_the_samples_folder_gives_every_file_a_status(run) -> None:
    folder = samples_dir()
    result = run("ingest", str(folder), "--json")
    assert result.exit_code == 0
    rows = _lines(result.output)
    manifest = manifest_rows()
    by_name = {Path(r["path"]).name: r for r in rows}
    for name, row in manifest.items():
        expected = "stored" if row["category"] == "ultrasound" else "rejected"
        assert by_name[name]["status"] == expected, name
        if expected == "rejected":
            assert by_name[name]["reason"], name
    again = _lines(run("ingest", str(folder), "--json").output)
    assert {r["status"] for r in again} == {"already_stored", "rejected"}
    listed = _lines(run("scans", "list", "--json").output)
    assert len(listed) == len({r["study_id"] for r in rows if r["status"] == "stored"})
    assert all("DOE" not in json.dumps(r) for r in listed)


def test_users_add_and_list(run) -> None:
    added = run(
        "users",
        "add",
        "dr.ana",
        "--name",
        "Dr Ana",
        "--role",
        "expert",
        "--password",
        "long-enough",
    )
    assert added.exit_code == 0 and "OP-" in added.output
    listed = _lines(run("users", "list", "--json").output)
    assert [(u["username"], u["role"]) for u in listed] == [("dr.ana", "expert")]
    assert "password" not in json.dumps(listed)
    refused = run(
        "users", "add", "dr.ana", "--name", "X", "--role", "expert", "--password", "long-enough"
    )
    assert refused.exit_code == 2 and "taken" in refused.output


def test_render_reports_json_and_refuses_a_broken_file_with_exit_2(run, tmp_path: Path) -> None:
    folder = samples_dir()
    result = run(
        "render",
        str(folder / "orthanc-tests__Issue16.dcm"),
        "--out",
        str(tmp_path / "out"),
        "--json",
    )
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["frames"] == 34
    assert set(report) >= {
        "frames",
        "frames_per_second",
        "duration_s",
        "photometric",
        "transfer_syntax",
        "decode_s",
        "encode_s",
    }
    assert Path(report["video"]).is_file() and Path(report["thumbnail"]).is_file()
    broken = run("render", str(folder / "broken__plain-text.dcm"), "--out", str(tmp_path / "o"))
    assert broken.exit_code == 2 and "not a DICOM file" in broken.output


def test_demo_loads_once_and_prepares_the_videos(run) -> None:
    first = run("demo", "--if-empty")
    assert first.exit_code == 0
    assert "Prepared playable video for" in first.output
    second = run("demo", "--if-empty")
    assert second.exit_code == 0 and "Prepared" not in second.output
