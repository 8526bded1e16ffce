"""Pixel de-identification: which pixels are kept, per-model rules, masks, the contact sheet."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from qa_meeting.domain.cine import UltrasoundRegion
from qa_meeting.domain.deid import (
    NeedsMaskError,
    PixelMethod,
    PixelPlan,
    PixelRule,
    Rect,
    parse_pixel_rules,
    parse_rect,
    plan_pixels,
)
from qa_meeting.errors import ConfigurationError, ValidationError
from qa_meeting.imaging.deid_header import encode_dataset
from qa_meeting.imaging.deid_pixels import (
    ContactSheet,
    PixelLayout,
    apply_plan,
    load_pixel_rules,
    write_pixel_data,
)
from qa_meeting.imaging.deid_profile import HeaderPolicy
from qa_meeting.imaging.deidentify import deidentify_header
from qa_meeting.imaging.frames import CineDecodeError
from qa_meeting.imaging.synthetic import CineSpec, build_dataset
from tests.imaging.test_deidentify import KEYS, marked_dataset, read, run, write

RULE = PixelRule("Acme 9", "ACME", "Nine", 100, 120, (Rect(0, 0, 119, 9),))


def region(x0: int, y0: int, x1: int, y1: int, spatial_format: int = 1) -> UltrasoundRegion:
    return UltrasoundRegion(x0, y0, x1, y1, 0.1, 0.1, 3, 3, 1, spatial_format)


def plan(**kwargs: Any) -> PixelPlan:
    machine = {"rows": 100, "columns": 120, "manufacturer": "ACME", "model": "Nine"}
    arguments: dict[str, Any] = {**machine, "regions": (), "rules": (RULE,), **kwargs}
    return plan_pixels(**arguments)


def test_regions_are_kept_and_clipped_to_the_frame() -> None:
    result = plan(regions=[region(10, 20, 200, 150), region(0, 0, 5, 5, spatial_format=4)])
    assert result == PixelPlan(PixelMethod.REGIONS, keep=(Rect(10, 20, 119, 99), Rect(0, 0, 5, 5)))


@pytest.mark.parametrize(
    "regions",
    [
        [region(0, 0, 119, 99)],  # the whole screen says nothing about the banner
        [region(0, 0, 500, 500)],  # nor does a bigger one
        [region(10, 10, 50, 50, spatial_format=0)],  # "none": calibration only
        [region(10, 10, 50, 50, spatial_format=5)],  # graphics
        [region(130, 10, 140, 50)],  # off the frame
    ],
)
def test_regions_that_do_not_bound_the_image_fall_back_to_the_rule(
    regions: list[UltrasoundRegion],
) -> None:
    expected = PixelPlan(PixelMethod.RULE, blank=RULE.blank, rule_name="Acme 9")
    assert plan(regions=regions) == expected


def test_a_mask_wins_over_regions_and_rules() -> None:
    mask = (Rect(5, 5, 50, 50),)
    assert plan(regions=[region(10, 20, 100, 90)], mask=mask) == PixelPlan(
        PixelMethod.MASK, keep=mask
    )
    with pytest.raises(ValidationError, match="reaches outside"):
        plan(mask=(Rect(0, 0, 120, 10),))


@pytest.mark.parametrize(
    "changes",
    [{"manufacturer": "Acme"}, {"model": "Nine+"}, {"rows": 101}, {"columns": 121}],
)
def test_rules_match_exactly_or_the_loop_needs_a_mask(changes: dict[str, Any]) -> None:
    assert plan(manufacturer=" ACME ").method is PixelMethod.RULE  # padding is not a difference
    with pytest.raises(NeedsMaskError, match="needs a mask") as raised:
        plan(**changes)
    assert "--mask X0,Y0,X1,Y1" in raised.value.remedy


def test_parse_rect() -> None:
    assert parse_rect(" 0, 60,639 ,479") == Rect(0, 60, 639, 479)
    for text in ("0,60,639", "a,b,c,d", "-1,0,5,5"):
        with pytest.raises(ValidationError):
            parse_rect(text)
    with pytest.raises(ValidationError):
        Rect(10, 0, 5, 5)


def test_built_in_rules_skip_examples_unless_asked() -> None:
    active = load_pixel_rules()
    every = load_pixel_rules(include_examples=True)
    assert [rule.model for rule in active] == ["Synthetic Probe 1"]
    assert len(every) > len(active) and all(rule.source for rule in every)
    assert all(rule.example for rule in every if rule not in active)


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"name": "", "manufacturer": "A", "model": "B", "rows": 10, "columns": 10,
          "blank": [[0, 0, 1, 1]], "source": ""}, "rule[0].name"),
        ({"name": "x", "manufacturer": "A", "model": "B", "rows": 10, "columns": 10,
          "blank": [[0, 0, 10, 1]], "source": ""}, "rule[0].blank[0]"),
        ({"name": "x", "manufacturer": "A", "model": "B", "rows": True, "columns": 10,
          "blank": [[0, 0, 1, 1]], "source": ""}, "rule[0].rows"),
        ({"name": "x", "manufacturer": "A", "model": "B", "rows": 10, "columns": 10,
          "blank": [], "source": ""}, "rule[0].blank"),
    ],
)  # fmt: skip
def test_malformed_rules_are_refused_with_their_place(entry: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"{where.replace('[', '.').replace(']', '.')}"):
        parse_pixel_rules({"schema": 1, "rule": [entry]}, "rules.toml")
    with pytest.raises(ConfigurationError, match="schema"):
        parse_pixel_rules({"rule": []}, "rules.toml")


def test_apply_plan_on_every_channel() -> None:
    frame = np.full((20, 30, 3), 200, np.uint8)
    kept = apply_plan(frame, PixelPlan(PixelMethod.MASK, keep=(Rect(5, 2, 9, 4),)))
    assert kept[2:5, 5:10].min() == 200 and kept.sum() == 200 * 3 * 15
    blanked = apply_plan(frame, PixelPlan(PixelMethod.RULE, blank=(Rect(0, 0, 29, 1),)))
    assert not blanked[:2].any() and blanked[2:].min() == 200
    assert frame.min() == 200  # the input is left alone


def test_contact_sheet_tiles_distinct_frames_with_their_numbers() -> None:
    layout = PixelLayout(40, 60, 5, 1, 8, 8, 0, "MONOCHROME2")
    frames = [np.full((40, 60), value, np.uint8) for value in (10, 10, 90, 10, 200)]
    out, sheet_png = io.BytesIO(), io.BytesIO()
    distinct = write_pixel_data(out, frames, layout, sheet_png)
    assert distinct == 3
    image = Image.open(io.BytesIO(sheet_png.getvalue()))
    assert image.format == "PNG" and image.size[0] == 3 * 60
    assert len(out.getvalue()) == 12 + 5 * 40 * 60  # element header, then the frames


def test_contact_sheet_stays_within_budget_for_long_loops() -> None:
    sheet = ContactSheet(PixelLayout(600, 800, 5000, 3, 8, 8, 0, "RGB"))
    assert sheet.size[0] * sheet.size[1] * 3 * 5000 <= 48 * 2**20


def test_too_few_frames_is_refused() -> None:
    layout = PixelLayout(4, 4, 3, 1, 8, 8, 0, "MONOCHROME2")
    with pytest.raises(CineDecodeError, match="holds 2 frames"):
        write_pixel_data(io.BytesIO(), [np.zeros((4, 4), np.uint8)] * 2, layout, None)


def _without_regions(tmp_path: Path, **changes: Any) -> Path:
    ds = marked_dataset()
    del ds.SequenceOfUltrasoundRegions
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return write(ds, tmp_path / "no-regions.dcm")


def test_no_regions_and_no_rule_is_blocked_even_if_marked_clean(tmp_path: Path) -> None:
    src = _without_regions(tmp_path, BurnedInAnnotation="NO")
    with pytest.raises(NeedsMaskError):
        run(src)


def test_a_caller_mask_is_applied(tmp_path: Path) -> None:
    src = _without_regions(tmp_path)
    data, report, _ = run(src, mask=(Rect(20, 40, 199, 179),))
    cleaned, source = read(data).pixel_array, pydicom.dcmread(src).pixel_array
    assert report.pixel_method is PixelMethod.MASK and read(data).BurnedInAnnotation == "NO"
    assert np.array_equal(cleaned[:, 40:180, 20:200], source[:, 40:180, 20:200])
    cleaned[:, 40:180, 20:200] = 0
    assert not cleaned.any()


def test_the_demo_rule_cleans_a_demo_loop_without_regions(tmp_path: Path) -> None:
    ds = build_dataset(CineSpec(case_id="rule", scene="ivc", frames=2))
    del ds.SequenceOfUltrasoundRegions
    data, report, _ = run(write(ds, tmp_path / "demo.dcm"))
    cleaned = read(data).pixel_array
    assert report.pixel_method is PixelMethod.RULE
    assert report.pixel_rule == "QA Meeting demo generator"
    assert not cleaned[:, :32].any() and cleaned[:, 32:].any()


def test_sixteen_bit_grey_stays_sixteen_bit_grey(tmp_path: Path) -> None:
    ds = marked_dataset()
    pixels = ds.pixel_array.astype(np.uint16) * 16  # 12 bits stored
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    data, _, sheet = run(write(ds, tmp_path / "deep.dcm"))
    out = read(data)
    assert (out.BitsAllocated, out.BitsStored, out.PhotometricInterpretation) == (
        16,
        12,
        "MONOCHROME2",
    )
    assert out.pixel_array.dtype == np.uint16 and out.pixel_array.max() == pixels[:, 33:].max()
    assert Image.open(io.BytesIO(sheet)).format == "PNG"


@pytest.mark.parametrize(
    ("syntax", "charset"),
    [
        (pydicom.uid.ExplicitVRLittleEndian, "ISO_IR 192"),
        (pydicom.uid.ExplicitVRLittleEndian, "ISO_IR 100"),
        (pydicom.uid.ImplicitVRLittleEndian, "ISO_IR 100"),
        (pydicom.uid.ExplicitVRBigEndian, None),
    ],
)
def test_header_encoder_writes_what_pydicom_writes(
    tmp_path: Path, syntax: pydicom.uid.UID, charset: str | None
) -> None:
    """Raw, made, nested, non-ASCII and converted elements: the same bytes as write_dataset."""
    ds = marked_dataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SpecificCharacterSet = charset
    ds.PatientName, ds.InstitutionName = "Müller^Zoë", "Hôpital Général"
    ds.DeidentificationMethod = ["one", "two"]  # a kept multi-valued LO
    ds.FrameTime, ds.LossyImageCompressionRatio = 33.3, ["10", "12.5"]
    path = tmp_path / "in.dcm"
    ds.save_as(path, enforce_file_format=True)
    for mode in ("raw", "deidentified"):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        if mode == "deidentified":
            deidentify_header(
                header,
                pseudonym="CASE^ONE",
                keys=KEYS,
                policy=HeaderPolicy(),
                pixels_cleaned=True,
            )
        expected = DicomBytesIO()
        expected.is_little_endian, expected.is_implicit_VR = True, False
        write_dataset(expected, copy.deepcopy(header))
        assert encode_dataset(header) == expected.getvalue()
