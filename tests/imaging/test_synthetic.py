"""Synthetic cine loops: valid DICOM, same bytes each time, banner outside regions, motion."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa_meeting.errors import ValidationError
from qa_meeting.imaging.synthetic import (
    BANNER_ROWS,
    US_MULTIFRAME_STORAGE,
    CineSpec,
    render_cine,
    scene_names,
    write_cine,
)

EXPECTED_SCENES = {
    "cardiac_plax",
    "cardiac_a4c",
    "cardiac_psax",
    "cardiac_subcostal",
    "ivc",
    "lung_a_lines",
    "lung_b_lines",
    "lung_consolidation",
    "pleural_effusion",
    "fast_ruq",
    "fast_ruq_fluid",
    "pericardial_effusion",
    "dvt_compressible",
    "dvt_thrombus",
    "aorta",
}
FRAME_TIMES_MS = (20.0, 25.0, 33.3, 40.0, 50.0)


def regions_of(ds: pydicom.Dataset) -> list[tuple[int, int, int, int]]:
    return [
        (
            int(r.RegionLocationMinX0),
            int(r.RegionLocationMinY0),
            int(r.RegionLocationMaxX1),
            int(r.RegionLocationMaxY1),
        )
        for r in ds.SequenceOfUltrasoundRegions
    ]


def region_mask(shape: tuple[int, int], regions: list[tuple[int, int, int, int]]) -> np.ndarray:
    inside = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in regions:
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
    return inside


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scene_names_are_the_documented_fifteen():
    assert set(scene_names()) == EXPECTED_SCENES
    assert len(scene_names()) == len(EXPECTED_SCENES)


@pytest.mark.parametrize("index, scene", list(enumerate(sorted(EXPECTED_SCENES))))
def test_every_scene_writes_a_valid_moving_us_multiframe(tmp_path, index, scene):
    frame_time = FRAME_TIMES_MS[index % len(FRAME_TIMES_MS)]
    spec = CineSpec(f"case-{index:03d}", scene, frames=24, frame_time_ms=frame_time)
    path = write_cine(spec, tmp_path / f"{scene}.dcm")

    ds = pydicom.dcmread(path)  # no force: the file must be a proper Part 10 file
    assert ds.file_meta.MediaStorageSOPClassUID == US_MULTIFRAME_STORAGE
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.3.1"
    assert ds.Modality == "US"
    assert ds.NumberOfFrames == 24
    assert float(ds.FrameTime) == pytest.approx(frame_time)
    assert ds.FrameIncrementPointer == 0x00181063
    assert int(ds.CineRate) == int(ds.RecommendedDisplayFrameRate) == round(1000 / frame_time)
    assert (ds.Rows, ds.Columns) == (360, 480)
    assert (ds.PhotometricInterpretation, ds.BitsAllocated, ds.SamplesPerPixel) == (
        "MONOCHROME2",
        8,
        1,
    )
    assert ds.BurnedInAnnotation == "YES"
    assert ds.InstitutionName == "Demo General Hospital"

    regions = regions_of(ds)
    assert regions
    for item, (x0, y0, x1, y1) in zip(ds.SequenceOfUltrasoundRegions, regions, strict=True):
        assert 0 <= x0 < x1 < ds.Columns and BANNER_ROWS <= y0 < y1 < ds.Rows
        assert (item.RegionSpatialFormat, item.RegionDataType) == (1, 1)
        assert item.PhysicalUnitsXDirection == item.PhysicalUnitsYDirection == 3
        assert 0.005 < item.PhysicalDeltaX == item.PhysicalDeltaY < 0.1
        assert 0 <= x0 + item.ReferencePixelX0 <= x1  # the probe's face is inside the region

    pixels = ds.pixel_array
    assert pixels.shape == (24, 360, 480) and pixels.dtype == np.uint8
    x0, y0, x1, y1 = regions[0]
    sector = pixels[:, y0 : y1 + 1, x0 : x1 + 1].astype(np.int16)
    assert (sector[0] > 0).mean() > 0.4  # the fan fills much of its bounding box
    changes = [np.abs(sector[i] - sector[0]).mean() for i in (6, 12, 18)]
    assert min(changes) > 2.0, changes


def test_file_starts_with_preamble_and_dicm(tmp_path):
    path = write_cine(CineSpec("case-pre", "aorta", frames=4), tmp_path / "loop.dcm")
    head = path.read_bytes()[:132]
    assert head[:128] == b"\x00" * 128
    assert head[128:132] == b"DICM"


def test_same_spec_gives_identical_bytes(tmp_path):
    spec = CineSpec("case-007", "cardiac_plax", frames=40, patient_name="DEMO^ALICE")
    first = write_cine(spec, tmp_path / "one" / "loop.dcm")
    second = write_cine(spec, tmp_path / "two" / "loop.dcm")
    assert sha256(first) == sha256(second)


def test_other_case_id_gives_other_pixels_and_uids(tmp_path):
    a = pydicom.dcmread(write_cine(CineSpec("case-a", "ivc", frames=3), tmp_path / "a.dcm"))
    b = pydicom.dcmread(write_cine(CineSpec("case-b", "ivc", frames=3), tmp_path / "b.dcm"))
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert a[keyword].value != b[keyword].value
    assert not np.array_equal(a.pixel_array, b.pixel_array)


def test_loops_sharing_a_study_key_share_the_study(tmp_path):
    plax = CineSpec("case-9/plax", "cardiac_plax", frames=2, study_key="case-9")
    a4c = CineSpec("case-9/a4c", "cardiac_a4c", frames=2, study_key="case-9")
    a = pydicom.dcmread(write_cine(plax, tmp_path / "plax.dcm"))
    b = pydicom.dcmread(write_cine(a4c, tmp_path / "a4c.dcm"))
    assert a.StudyInstanceUID == b.StudyInstanceUID
    assert a.SeriesInstanceUID != b.SeriesInstanceUID


def test_write_replaces_existing_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "loop.dcm"
    path.write_bytes(b"stale")
    write_cine(CineSpec("case-atomic", "lung_a_lines", frames=3), path)
    assert pydicom.dcmread(path).NumberOfFrames == 3
    assert [p.name for p in tmp_path.iterdir()] == ["loop.dcm"]


@pytest.mark.parametrize("rows, columns", [(360, 480), (480, 640), (240, 320), (600, 800)])
@pytest.mark.parametrize("scene", ["cardiac_a4c", "dvt_thrombus", "lung_b_lines"])
def test_banner_lies_outside_every_region(tmp_path, rows, columns, scene):
    spec = CineSpec(
        "case-banner", scene, rows=rows, columns=columns, frames=2, patient_name="DEMO^ALICE"
    )
    ds = pydicom.dcmread(write_cine(spec, tmp_path / "loop.dcm"))
    inside = region_mask((rows, columns), regions_of(ds))
    banner = ds.pixel_array != render_cine(spec, banner=False)

    assert banner[0].sum() > 200  # there is text, and it was burned in
    assert not (banner & inside).any()  # and none of it inside a region
    assert banner[:, BANNER_ROWS:, :].sum() == 0


def test_banner_shows_the_fake_patient_text_rows_only():
    pixels = render_cine(CineSpec("case-text", "fast_ruq", frames=1))
    strip = pixels[0, :BANNER_ROWS]
    assert strip.max() == 255 and (strip == 255).mean() < 0.25
    lit_rows = np.flatnonzero(strip.max(axis=1))
    assert 2 <= len(lit_rows) < BANNER_ROWS


def anechoic_fraction(spec: CineSpec, window=(slice(None), slice(None))) -> np.ndarray:
    """Per frame, the share of 4x4 blocks that are black on average (fluid, blood, not speckle)."""
    pixels = render_cine(spec, banner=False)[:, window[0], window[1]].astype(np.float32)
    frames, height, width = pixels.shape
    blocks = pixels[:, : height // 4 * 4, : width // 4 * 4].reshape(
        frames, height // 4, 4, width // 4, 4
    )
    fraction: np.ndarray = (blocks.mean(axis=(2, 4)) < 20).mean(axis=(1, 2))
    return fraction


@pytest.mark.parametrize("scene", ["cardiac_a4c", "cardiac_plax", "cardiac_psax"])
def test_lv_contracts_more_when_function_is_good(scene):
    good = anechoic_fraction(CineSpec("case-lv", scene, lv_function=0.7))
    poor = anechoic_fraction(CineSpec("case-lv", scene, lv_function=0.15))
    assert np.ptp(good) > 2 * np.ptp(poor) > 0


def test_vein_compresses_and_a_thrombosed_vein_is_full_of_echoes():
    window = (slice(150, 260), slice(150, 250))  # around the femoral vein
    normal = anechoic_fraction(CineSpec("case-dvt", "dvt_compressible", frames=21), window)
    clot = anechoic_fraction(CineSpec("case-dvt", "dvt_thrombus", frames=21), window)
    assert normal[0] > 0.08 and normal[10] < 0.2 * normal[0]  # squashed flat at mid-loop
    assert clot.max() < 0.3 * normal[0]


@pytest.mark.parametrize(
    "plain, changes",
    [
        ("fast_ruq", {"scene": "fast_ruq_fluid"}),
        ("fast_ruq", {"fluid": True}),
        ("cardiac_plax", {"effusion": True}),
        ("cardiac_a4c", {"effusion": True}),
        ("cardiac_psax", {"effusion": True}),
        ("cardiac_subcostal", {"effusion": True}),
        ("cardiac_subcostal", {"scene": "pericardial_effusion"}),
    ],
)
def test_fluid_adds_anechoic_area(plain, changes):
    before = CineSpec("case-fluid", plain, frames=1)
    after = replace(before, **changes)
    assert anechoic_fraction(after)[0] > anechoic_fraction(before)[0] + 0.01


def test_scenes_differ_from_each_other():
    middles = {
        s: render_cine(CineSpec("case-x", s, frames=1))[0].astype(np.int16) for s in scene_names()
    }
    names = sorted(middles)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if {a, b} == {"fast_ruq", "fast_ruq_fluid"}:
                continue  # same view by design; fluid is tested above
            assert np.abs(middles[a] - middles[b]).mean() > 3.0, (a, b)


def test_poor_quality_is_noisier_and_darker_in_places():
    good = render_cine(CineSpec("case-q", "fast_ruq", frames=1, image_quality=5))[0]
    poor = render_cine(CineSpec("case-q", "fast_ruq", frames=1, image_quality=1))[0]
    assert np.abs(good.astype(np.int16) - poor).mean() > 10


@pytest.mark.parametrize(
    "changes",
    [
        {"scene": "cardiac_3d"},
        {"image_quality": 0},
        {"image_quality": 6},
        {"frames": 0},
        {"rows": 10},
        {"frame_time_ms": 0.0},
        {"lv_function": 1.5},
    ],
)
def test_invalid_specs_are_refused(changes):
    fields = {"case_id": "case-bad", "scene": "aorta", **changes}
    with pytest.raises(ValidationError):
        CineSpec(**fields)


@settings(max_examples=10, deadline=None)
@given(case_id=st.text(min_size=1, max_size=20), scene=st.sampled_from(sorted(EXPECTED_SCENES)))
def test_rendering_is_a_function_of_the_spec(case_id, scene):
    spec = CineSpec(case_id, scene, frames=2, rows=200, columns=260)
    first, second = render_cine(spec), render_cine(spec)
    assert first.shape == (2, 200, 260)
    assert np.array_equal(first, second)
