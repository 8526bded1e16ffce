"""Frame timing and ultrasound regions read from headers, and the pure cine arithmetic."""

from __future__ import annotations

import math
import struct
import warnings
from io import BytesIO
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from qa_meeting.domain.cine import (
    FrameRateSource,
    PhysicalUnits,
    UltrasoundRegion,
    distance_mm,
    frame_at_time,
    region_at,
)
from qa_meeting.imaging.timing import (
    DEFAULT_FRAME_RATE,
    frame_timestamps,
    frame_timing,
    ultrasound_regions,
)

FRAME_TIME = 0x00181063
FRAME_TIME_VECTOR = 0x00181065
CINE_RATE = 0x00180040
RECOMMENDED_RATE = 0x00082144


def _ds(**attributes: Any) -> Dataset:
    ds = Dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid values are the point of some cases
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    ("attributes", "expected", "source"),
    [
        ({"FrameTime": 25}, (0, 25, 50, 75), FrameRateSource.FRAME_TIME),
        ({"FrameTime": "33.3"}, (0, 33.3, 66.6, 99.9), FrameRateSource.FRAME_TIME),
        ({"FrameTimeVector": [0, 20, 30, 20]}, (0, 20, 50, 70), FrameRateSource.FRAME_TIME_VECTOR),
        ({"FrameTimeVector": [20, 30, 20]}, (0, 20, 50, 70), FrameRateSource.FRAME_TIME_VECTOR),
        # N values: the first frame's increment is 0 by definition, whatever is written
        ({"FrameTimeVector": [40, 20, 30, 20]}, (0, 20, 50, 70), FrameRateSource.FRAME_TIME_VECTOR),
        ({"CineRate": 20}, (0, 50, 100, 150), FrameRateSource.CINE_RATE),
        (
            {"RecommendedDisplayFrameRate": 10},
            (0, 100, 200, 300),
            FrameRateSource.RECOMMENDED_DISPLAY_FRAME_RATE,
        ),
        ({}, tuple(i * 1000 / DEFAULT_FRAME_RATE for i in range(4)), FrameRateSource.DEFAULT),
        ({"FrameTime": 25, "CineRate": 50}, (0, 25, 50, 75), FrameRateSource.FRAME_TIME),
        (
            {"FrameTime": 25, "FrameTimeVector": [0, 10, 10, 10]},
            (0, 25, 50, 75),
            FrameRateSource.FRAME_TIME,
        ),
        (
            {
                "FrameTime": 25,
                "FrameTimeVector": [0, 10, 10, 10],
                "FrameIncrementPointer": 0x181065,
            },
            (0, 10, 20, 30),
            FrameRateSource.FRAME_TIME_VECTOR,
        ),
        (
            {"CineRate": 20, "FrameTimeVector": [0, 10, 10, 10], "FrameIncrementPointer": 0x181063},
            (0, 10, 20, 30),
            FrameRateSource.FRAME_TIME_VECTOR,  # points at an absent Frame Time: next source
        ),
        (
            {
                "FrameTime": 25,
                "FrameTimeVector": [0, 10, 10, 10],
                "FrameIncrementPointer": [0x181063],
            },
            (0, 25, 50, 75),
            FrameRateSource.FRAME_TIME,
        ),
        # A pointer to something that is not a time (e.g. Frame Label Vector) changes nothing
        ({"FrameTime": 25, "FrameIncrementPointer": 0x00182002}, (0, 25, 50, 75), "FrameTime"),
    ],
)
def test_sources(attributes: dict[str, Any], expected: tuple[float, ...], source: str) -> None:
    timestamps, found = frame_timestamps(_ds(**attributes), 4)
    assert found == source
    assert timestamps == pytest.approx(expected)
    assert timestamps[0] == 0


BROKEN_FRAME_TIMES = [0, -40, "NaN", "inf", 0.5, 2500, [25, 30]]
BROKEN_RATES = [0, -30, 1001, "0.4"]
BROKEN_VECTORS = [
    [0, 20, 0, 20],  # a zero increment
    [0, 20, -10, 20],  # a negative one
    [0, 20, 20, 20, 20],  # N + 1 values
    [20, 20],  # N - 2 values
    [0, 20, "NaN", 20],
    [0, 0.5, 0.5, 0.5],  # 2000 fps
    [0, 20, 2500, 20],  # one gap of 2.5 s
]


@pytest.mark.parametrize("value", BROKEN_FRAME_TIMES, ids=repr)
def test_broken_frame_time_falls_through(value: Any) -> None:
    timestamps, source = frame_timestamps(_ds(FrameTime=value, CineRate=20), 4)
    assert source == FrameRateSource.CINE_RATE
    assert timestamps == pytest.approx((0, 50, 100, 150))


def _raw(elements: list[tuple[int, bytes, bytes]]) -> Dataset:
    """A dataset parsed from explicit little endian bytes, so values stay as a file has them."""
    data = b"".join(
        struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value
        for tag, vr, value in elements
    )
    return read_dataset(BytesIO(data), is_implicit_VR=False, is_little_endian=True)


@pytest.mark.parametrize(
    "element",
    [
        (FRAME_TIME, b"DS", b"abc "),
        (FRAME_TIME, b"LO", b"fast"),
        (FRAME_TIME_VECTOR, b"DS", b"0\\20\\x "),
        (CINE_RATE, b"IS", b"NaN "),
        (RECOMMENDED_RATE, b"IS", b"1.5e"),
    ],
    ids=repr,
)
def test_unreadable_values_fall_through(element: tuple[int, bytes, bytes]) -> None:
    ds = _raw([element, (0x00280009, b"AT", struct.pack("<HH", 0x0018, 0x1065))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert frame_timestamps(ds, 2) == ((0.0, 1000 / DEFAULT_FRAME_RATE), "default")


@pytest.mark.parametrize("vector", BROKEN_VECTORS, ids=repr)
def test_broken_frame_time_vector_falls_through(vector: list[Any]) -> None:
    ds = _ds(FrameTimeVector=vector, FrameIncrementPointer=FRAME_TIME_VECTOR, CineRate=25)
    assert frame_timestamps(ds, 4) == ((0.0, 40.0, 80.0, 120.0), FrameRateSource.CINE_RATE)


@pytest.mark.parametrize("keyword", ["CineRate", "RecommendedDisplayFrameRate"])
@pytest.mark.parametrize("value", BROKEN_RATES, ids=repr)
def test_broken_rates_fall_through(keyword: str, value: Any) -> None:
    _, source = frame_timestamps(_ds(**{keyword: value}), 3)
    assert source == FrameRateSource.DEFAULT


def test_every_source_broken_gives_the_default() -> None:
    ds = _ds(
        FrameTime=0,
        FrameTimeVector=[0, -1, 5],
        CineRate=-1,
        RecommendedDisplayFrameRate=5000,
        FrameIncrementPointer=FRAME_TIME,
    )
    timing = frame_timing(ds, 3)
    assert timing.source == FrameRateSource.DEFAULT
    assert timing.frames_per_second == pytest.approx(DEFAULT_FRAME_RATE)


def test_variable_timing_duration_and_mean_rate() -> None:
    timing = frame_timing(_ds(FrameTimeVector=[0, 20, 40, 20]), 4)
    assert timing.variable
    assert timing.duration_ms == pytest.approx(100)  # 80 to the last start, + its 20
    assert timing.frames_per_second == pytest.approx(40)
    assert not frame_timing(_ds(FrameTimeVector=[0, 33.333, 33.334, 33.333]), 4).variable
    assert not frame_timing(_ds(FrameTime=40), 4).variable


def test_one_frame() -> None:
    assert frame_timestamps(_ds(FrameTime=40), 1) == ((0.0,), FrameRateSource.FRAME_TIME)
    # one frame has no increments: a vector says nothing about its rate
    assert frame_timestamps(_ds(FrameTimeVector=[0]), 1) == ((0.0,), FrameRateSource.DEFAULT)
    assert frame_timing(_ds(FrameTime=40), 1).duration_ms == 40


def test_no_frames_is_a_bug() -> None:
    with pytest.raises(ValueError):
        frame_timestamps(_ds(FrameTime=40), 0)


@pytest.mark.parametrize(
    ("t_ms", "index"), [(-5, 0), (0, 0), (19.9, 0), (20, 1), (49, 1), (50, 2), (70, 3), (1e9, 3)]
)
def test_frame_at_time(t_ms: float, index: int) -> None:
    assert frame_at_time((0, 20, 50, 70), t_ms) == index


@given(
    increments=st.lists(st.floats(min_value=1, max_value=2000), min_size=0, max_size=50),
    t_ms=st.floats(min_value=0, max_value=1e5),
)
def test_frame_at_time_shows_the_latest_started_frame(increments: list[float], t_ms: float) -> None:
    timestamps = [0.0]
    for increment in increments:
        timestamps.append(timestamps[-1] + increment)
    index = frame_at_time(timestamps, t_ms)
    assert timestamps[index] <= t_ms
    assert index == len(timestamps) - 1 or t_ms < timestamps[index + 1]


def test_frame_at_time_needs_frames() -> None:
    with pytest.raises(ValueError):
        frame_at_time((), 0)


def _item(**attributes: Any) -> Dataset:
    defaults: dict[str, Any] = {
        "RegionSpatialFormat": 1,
        "RegionDataType": 1,
        "RegionLocationMinX0": 10,
        "RegionLocationMinY0": 20,
        "RegionLocationMaxX1": 410,
        "RegionLocationMaxY1": 320,
        "PhysicalUnitsXDirection": 3,
        "PhysicalUnitsYDirection": 3,
        "PhysicalDeltaX": -0.05,
        "PhysicalDeltaY": 0.05,
    }
    return _ds(**(defaults | attributes))


def test_ultrasound_regions_are_read_and_malformed_items_skipped() -> None:
    screen = _item(
        RegionLocationMinX0=0,
        RegionLocationMinY0=0,
        RegionLocationMaxX1=639,
        RegionLocationMaxY1=479,
        PhysicalUnitsXDirection=0,
        PhysicalUnitsYDirection=0,
        PhysicalDeltaX=1.0,
        PhysicalDeltaY=1.0,
    )
    doppler = _item(RegionLocationMinY0=330, RegionLocationMaxY1=470, PhysicalUnitsYDirection=7)
    no_corner = _item()
    del no_corner.RegionLocationMaxX1
    upside_down = _item(RegionLocationMinY0=400, RegionLocationMaxY1=300)
    ds = _ds(SequenceOfUltrasoundRegions=[screen, _item(), doppler, no_corner, upside_down])
    regions = ultrasound_regions(ds)
    assert len(regions) == 3
    image = regions[1]
    assert (image.x0, image.y0, image.x1, image.y1) == (10, 20, 410, 320)
    assert image.physical_units_x == PhysicalUnits.CM and image.physical_delta_x == -0.05
    assert region_at(regions, 100, 100) == image  # the innermost of the two holding it
    assert region_at(regions, 5, 5) == regions[0]
    assert region_at(regions, 700, 5) is None
    assert ultrasound_regions(_ds()) == ()


def test_distance_mm() -> None:
    image = UltrasoundRegion(10, 20, 410, 320, -0.05, 0.05, 3, 3, 1)
    doppler = UltrasoundRegion(10, 330, 410, 470, 0.05, 0.1, 3, 7, 3)
    screen = UltrasoundRegion(0, 0, 639, 479, 1.0, 1.0, 0, 0, 0)
    regions = (screen, image, doppler)
    # 30 x 40 pixels of 0.5 mm: 25 mm; the sign of Physical Delta X is only a direction
    assert distance_mm(regions, (100, 100), (130, 140)) == pytest.approx(25.0)
    assert distance_mm(regions, (100, 100), (100, 400)) is None  # two regions
    assert distance_mm(regions, (100, 400), (120, 400)) is None  # cm/s, not cm
    assert distance_mm(regions, (1, 1), (5, 5)) is None  # no units
    assert distance_mm(regions, (700, 1), (5, 5)) is None  # outside the image
    assert distance_mm((), (1, 1), (2, 2)) is None
    flat = UltrasoundRegion(0, 0, 9, 9, 0.0, math.nan, 3, 3, 1)
    assert distance_mm((flat,), (1, 1), (2, 2)) is None


def _regions_through_pydicom(ds: Dataset) -> tuple[UltrasoundRegion, ...]:
    """What ``ultrasound_regions`` gave when it converted every value through pydicom."""
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions") or ():
        try:
            region = UltrasoundRegion(
                x0=int(item.RegionLocationMinX0),
                y0=int(item.RegionLocationMinY0),
                x1=int(item.RegionLocationMaxX1),
                y1=int(item.RegionLocationMaxY1),
                physical_delta_x=float(item.get("PhysicalDeltaX") or 0.0),
                physical_delta_y=float(item.get("PhysicalDeltaY") or 0.0),
                physical_units_x=int(item.get("PhysicalUnitsXDirection") or 0),
                physical_units_y=int(item.get("PhysicalUnitsYDirection") or 0),
                region_data_type=int(item.get("RegionDataType") or 0),
                region_spatial_format=int(item.get("RegionSpatialFormat") or 0),
            )
        except (AttributeError, TypeError, ValueError):
            continue
        if region.x0 <= region.x1 and region.y0 <= region.y1:
            regions.append(region)
    return tuple(regions)


def _odd_items(implicit: bool) -> list[Dataset]:
    empty_corner, empty_delta, two_deltas = _item(), _item(), _item()
    empty_corner.RegionLocationMinX0 = None
    empty_delta.PhysicalDeltaX = None
    two_deltas.PhysicalDeltaY = [0.1, 0.2]
    negative_zero, no_units, big = _item(PhysicalDeltaX=-0.0), _item(), _item()
    del no_units.PhysicalUnitsXDirection
    big.RegionLocationMaxX1, big.RegionLocationMaxY1 = 2**32 - 1, 2**31
    wrong_vr = _item()
    wrong_vr.add_new(0x00186018, "US", 5)  # Region Location Min X0 is UL
    corners_as_pair = _item()
    corners_as_pair.add_new(0x0018601C, "UL", [400, 401])
    nan = _item(PhysicalDeltaY=math.nan, RegionDataType=0)
    return [
        *(_item(), empty_corner, empty_delta, two_deltas, negative_zero, no_units, big),
        *(corners_as_pair, nan),
        *(() if implicit else (wrong_vr,)),  # implicit VR: a 2-byte UL pydicom refuses
    ]


@pytest.mark.parametrize("implicit,little", [(True, True), (False, True), (False, False)])
def test_ultrasound_regions_from_raw_bytes_match_pydicom(implicit: bool, little: bool) -> None:
    source = _ds(SequenceOfUltrasoundRegions=_odd_items(implicit))
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit, little
    write_dataset(buffer, source)

    def parsed() -> Dataset:
        return read_dataset(BytesIO(buffer.getvalue()), implicit, little)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = ultrasound_regions(parsed()), _regions_through_pydicom(parsed())
        converted = parsed()
        for item in converted.SequenceOfUltrasoundRegions:
            list(item)  # every element converted already: read through pydicom
        again = ultrasound_regions(converted)
    assert repr(ours) == repr(theirs) == repr(again)
    assert len(ours) >= 5
