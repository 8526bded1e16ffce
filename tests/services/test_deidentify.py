"""De-identify use cases: files written atomically, folders file by file, the site's key."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image

from qa_meeting.domain.deid import NeedsMaskError, PixelMethod
from qa_meeting.errors import ConfigurationError
from qa_meeting.imaging import deid_pixels
from qa_meeting.imaging.frames import CineDecodeError
from qa_meeting.services.context import AppContext
from qa_meeting.services.deidentify import (
    SECRET_FILE,
    deid_keys,
    deidentify_file,
    deidentify_paths,
    identifying_strings,
)
from tests.conftest import make_context
from tests.imaging.test_deidentify import MARKER, marked_dataset, write


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[AppContext]:
    context = make_context(tmp_path / "data")
    yield context
    context.engine.dispose()


def _marked(folder: Path, name: str = "SMITH_JOHN.dcm", **kwargs: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write(marked_dataset(**kwargs), folder / name)


def test_deidentify_file_writes_the_file_and_its_contact_sheet(
    ctx: AppContext, tmp_path: Path
) -> None:
    src = _marked(tmp_path / "in")
    dst = tmp_path / "out" / "case.dcm"
    report = deidentify_file(ctx, src, dst, pseudonym="TEACHING^CASE 12")
    assert report.output == str(dst) and report.pixel_method is PixelMethod.REGIONS
    assert Path(report.contact_sheet) == tmp_path / "out" / "case.contact-sheet.png"
    with Image.open(report.contact_sheet) as sheet:
        assert sheet.format == "PNG"
    assert MARKER.encode() not in dst.read_bytes()
    assert str(pydicom.dcmread(dst).PatientName) == "TEACHING^CASE 12"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["case.contact-sheet.png", "case.dcm"]


def test_the_contact_sheet_can_go_elsewhere(ctx: AppContext, tmp_path: Path) -> None:
    sheet = tmp_path / "review" / "case-12.png"
    dst = tmp_path / "package" / "case.dcm"
    report = deidentify_file(
        ctx, _marked(tmp_path / "in"), dst, pseudonym="CASE^1", contact_sheet=sheet
    )
    assert report.contact_sheet == str(sheet) and sheet.exists()
    assert [p.name for p in dst.parent.iterdir()] == ["case.dcm"]


def test_a_failure_midway_leaves_no_output(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _marked(tmp_path / "in")
    real = deid_pixels.apply_plan
    calls = iter(range(100))

    def failing(frame: Any, plan: Any) -> Any:
        if next(calls) == 2:
            raise CineDecodeError("Frame 3 of this loop is damaged and cannot be decoded.")
        return real(frame, plan)

    monkeypatch.setattr(deid_pixels, "apply_plan", failing)
    out = tmp_path / "out"
    with pytest.raises(CineDecodeError):
        deidentify_file(ctx, src, out / "case.dcm", pseudonym="TEACHING^CASE 1")
    assert list(out.iterdir()) == []  # neither the file, nor its sheet, nor a temporary


def test_the_key_file_is_made_once_for_the_owner_only(ctx: AppContext) -> None:
    first = deid_keys(ctx)
    path = ctx.settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert deid_keys(ctx) == first and first.uid("1.2.3") == deid_keys(ctx).uid("1.2.3")
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="other users"):
        deid_keys(ctx)


def test_a_configured_secret_is_used_and_must_be_long(ctx: AppContext) -> None:
    configured = replace(ctx, settings=replace(ctx.settings, deid_secret="x" * 40))
    assert deid_keys(configured).secret == b"x" * 40
    assert not (ctx.settings.data_dir / SECRET_FILE).exists()
    short = replace(ctx, settings=replace(ctx.settings, deid_secret="short"))
    with pytest.raises(ConfigurationError):
        deid_keys(short)


def test_a_folder_is_done_file_by_file(ctx: AppContext, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    one = _marked(folder, "one.dcm", case_id="one")
    two = _marked(folder / "nested", "two.dcm", case_id="two")
    ds = marked_dataset("three")
    del ds.SequenceOfUltrasoundRegions
    three = write(ds, folder / f"{MARKER}.dcm")
    (folder / "notes.txt").write_text("not DICOM")
    results = deidentify_paths(ctx, folder, tmp_path / "out")
    by_source = {Path(result.source).name: result for result in results}
    assert {name: r.status for name, r in by_source.items()} == {
        "one.dcm": "done",
        "two.dcm": "done",
        f"{MARKER}.dcm": "blocked",
        "notes.txt": "blocked",
    }
    assert by_source[f"{MARKER}.dcm"].needs_mask
    outputs = [Path(by_source[name].output) for name in ("one.dcm", "two.dcm")]
    assert all(path.name.startswith("2.25.") and path.exists() for path in outputs)
    names = {str(pydicom.dcmread(path).PatientName) for path in outputs}
    assert len(names) == 1 and names.pop().startswith("ANONYMOUS^")  # one patient, one code
    text = json.dumps([result.to_json() for result in results])
    assert MARKER not in text.replace(str(three), "")  # only the input's own name
    assert "remapped_uids" in text and "needs a mask" in text
    suffixes = sorted(path.suffix for path in (tmp_path / "out").iterdir())
    assert suffixes == [".dcm", ".dcm", ".png", ".png"]
    assert one.exists() and two.exists()


def test_a_mask_unblocks_a_folder(ctx: AppContext, tmp_path: Path) -> None:
    ds = marked_dataset()
    del ds.SequenceOfUltrasoundRegions
    src = write(ds, tmp_path / "in.dcm")
    with pytest.raises(NeedsMaskError):
        deidentify_file(ctx, src, tmp_path / "x.dcm", pseudonym="CASE^1")
    (result,) = deidentify_paths(ctx, [src], tmp_path / "out", mask=[(0, 40, 239, 190)])
    assert result.status == "done" and result.report is not None
    assert result.report.pixel_method is PixelMethod.MASK


def test_identifying_strings_of_a_file(tmp_path: Path) -> None:
    found = identifying_strings(_marked(tmp_path))
    assert {f"{MARKER}^PATIENT", f"{MARKER}01", f"{MARKER}02", f"{MARKER} Hospital"} <= found
    assert {f"{MARKER}^OPERATOR", "19600101", "20250101"} <= found
    assert any(value.startswith("1.2.826.0.1.3680043") for value in found)  # its own UIDs
