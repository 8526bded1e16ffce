"""What a cine's header says about time and space: when each frame starts, and pixel size.

Frame timing comes from whichever timing attribute the header gives.
Sources are tried in this order, each checked and skipped when its value is missing or makes no
sense (zero, negative, NaN, or a rate outside ``MIN_FRAME_RATE``..``MAX_FRAME_RATE``):

1. Frame Time (0018,1063): milliseconds per frame.
2. Frame Time Vector (0018,1065): the increment before each frame (the first is 0), so frames
   may be unevenly spaced. Some machines write N values, others leave out the first (N - 1).
3. Cine Rate (0018,0040): frames per second.
4. Recommended Display Frame Rate (0008,2144): frames per second.
5. ``DEFAULT_FRAME_RATE``.

When Frame Increment Pointer (0028,0009) names Frame Time or Frame Time Vector, that one is
tried first, as the standard says it is the one that applies.

Pixel size comes from the Sequence of Ultrasound Regions (0018,6011), item by item.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import RawDataElement

from qa_meeting.domain.cine import FrameRateSource, UltrasoundRegion

# Ultrasound machines export cine loops at roughly 15 to 60 fps; 30 fps is the usual video rate,
# so a loop that records no timing plays at a natural speed rather than as fast as possible.
DEFAULT_FRAME_RATE = 30.0
# Beyond these a value is a unit mix-up or garbage: no clinical cine runs above 1000 fps, and
# below one frame every two seconds it is a slide show, not a loop.
MAX_FRAME_RATE = 1000.0
MIN_FRAME_RATE = 0.5
# Increments closer than this (ms) count as one rate: vendors round Frame Time Vector values.
VARIABLE_TIMING_TOLERANCE_MS = 0.5

_FRAME_TIME_TAG = 0x00181063
_FRAME_TIME_VECTOR_TAG = 0x00181065
_DEFAULT_ORDER = (
    FrameRateSource.FRAME_TIME,
    FrameRateSource.FRAME_TIME_VECTOR,
    FrameRateSource.CINE_RATE,
    FrameRateSource.RECOMMENDED_DISPLAY_FRAME_RATE,
)


@dataclass(frozen=True)
class FrameTiming:
    """Start of each frame, the source it came from, and how long the last frame shows."""

    timestamps_ms: tuple[float, ...]
    source: FrameRateSource
    last_frame_ms: float

    @property
    def duration_ms(self) -> float:
        return self.timestamps_ms[-1] + self.last_frame_ms

    @property
    def frames_per_second(self) -> float:
        return 1000.0 * len(self.timestamps_ms) / self.duration_ms

    @property
    def variable(self) -> bool:
        steps = [b - a for a, b in zip(self.timestamps_ms, self.timestamps_ms[1:], strict=False)]
        return bool(steps) and max(steps) - min(steps) > VARIABLE_TIMING_TOLERANCE_MS


def frame_timestamps(ds: Any, number_of_frames: int) -> tuple[tuple[float, ...], FrameRateSource]:
    """Start time (ms) of each frame, the first being 0, and which attribute gave them."""
    timing = frame_timing(ds, number_of_frames)
    return timing.timestamps_ms, timing.source


def frame_timing(ds: Any, number_of_frames: int) -> FrameTiming:
    """The frame timing of ``ds`` (a pydicom dataset) for ``number_of_frames`` frames."""
    if number_of_frames < 1:
        raise ValueError("a cine loop has at least one frame")
    for source in _sources_in_order(ds):
        timing = _from_source(ds, source, number_of_frames)
        if timing is not None:
            return timing
    return _uniform(1000.0 / DEFAULT_FRAME_RATE, number_of_frames, FrameRateSource.DEFAULT)


def _sources_in_order(ds: Any) -> list[FrameRateSource]:
    pointed = {int(tag) for tag in _values(ds, "FrameIncrementPointer")}
    first = [
        source
        for source, tag in (
            (FrameRateSource.FRAME_TIME, _FRAME_TIME_TAG),
            (FrameRateSource.FRAME_TIME_VECTOR, _FRAME_TIME_VECTOR_TAG),
        )
        if tag in pointed
    ]
    return first + [source for source in _DEFAULT_ORDER if source not in first]


def _from_source(ds: Any, source: FrameRateSource, frames: int) -> FrameTiming | None:
    if source is FrameRateSource.FRAME_TIME_VECTOR:
        return _from_vector(_numbers(ds, source.value), frames)
    numbers = _numbers(ds, source.value)
    if len(numbers) != 1:
        return None
    value = numbers[0]
    frame_time_ms = value if source is FrameRateSource.FRAME_TIME else _ms_per_frame(value)
    if not _plausible_frame_time(frame_time_ms):
        return None
    return _uniform(frame_time_ms, frames, source)


def _from_vector(increments: Sequence[float], frames: int) -> FrameTiming | None:
    """Timing from Frame Time Vector values, the increment before each frame."""
    if frames < 2:
        return None  # one frame has no increments to learn a rate from
    if len(increments) == frames:
        increments = increments[1:]  # the first frame's increment is 0 by definition
    if len(increments) != frames - 1 or not all(map(_plausible_frame_time, increments)):
        return None
    timestamps = [0.0]
    for increment in increments:
        timestamps.append(timestamps[-1] + increment)
    return FrameTiming(tuple(timestamps), FrameRateSource.FRAME_TIME_VECTOR, increments[-1])


def _uniform(frame_time_ms: float, frames: int, source: FrameRateSource) -> FrameTiming:
    return FrameTiming(tuple(i * frame_time_ms for i in range(frames)), source, frame_time_ms)


def _ms_per_frame(rate: float) -> float:
    return 1000.0 / rate if rate > 0 else math.nan


def _plausible_frame_time(frame_time_ms: float) -> bool:
    return (
        math.isfinite(frame_time_ms)
        and 1000.0 / MAX_FRAME_RATE <= frame_time_ms <= 1000.0 / MIN_FRAME_RATE
    )


def _values(ds: Any, keyword: str) -> list[Any]:
    """The values of ``keyword`` as a list; empty when absent or unreadable (tolerant on read)."""
    try:
        value = ds.get(keyword)
    except Exception:  # pydicom raises many types on a malformed value; treat it as absent
        return []
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _numbers(ds: Any, keyword: str) -> list[float]:
    try:
        return [float(value) for value in _values(ds, keyword)]
    except (TypeError, ValueError):
        return []


# Each region attribute read, in ``UltrasoundRegion`` order: its keyword, tag, VR, and the value
# it takes when absent or empty (None: required, the item is left out without it).
_REGION_FIELDS: tuple[tuple[str, int, str, float | None], ...] = (
    ("RegionLocationMinX0", 0x00186018, "UL", None),
    ("RegionLocationMinY0", 0x0018601A, "UL", None),
    ("RegionLocationMaxX1", 0x0018601C, "UL", None),
    ("RegionLocationMaxY1", 0x0018601E, "UL", None),
    ("PhysicalDeltaX", 0x0018602C, "FD", 0.0),
    ("PhysicalDeltaY", 0x0018602E, "FD", 0.0),
    ("PhysicalUnitsXDirection", 0x00186024, "US", 0),
    ("PhysicalUnitsYDirection", 0x00186026, "US", 0),
    ("RegionDataType", 0x00186014, "US", 0),
    ("RegionSpatialFormat", 0x00186012, "US", 0),
)
_STRUCTS = {  # (little endian, VR): the struct of one value
    (little, vr): struct.Struct(("<" if little else ">") + code)
    for little in (True, False)
    for vr, code in (("UL", "L"), ("US", "H"), ("FD", "d"))
}
_SLOW = object()  # a value only pydicom's conversion can give


def ultrasound_regions(ds: Any) -> tuple[UltrasoundRegion, ...]:
    """The Sequence of Ultrasound Regions; malformed items are left out (tolerant on read).

    The few attributes read are unpacked straight from the raw bytes of each item (converting
    every element of the item through pydicom costs far more); any element that is not plain
    (converted already, deferred, of another VR, empty or multi-valued...) goes through pydicom.
    """
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions") or ():
        try:
            region = UltrasoundRegion(*[_region_value(item, *field) for field in _REGION_FIELDS])
        except (AttributeError, TypeError, ValueError):
            continue
        if region.x0 <= region.x1 and region.y0 <= region.y1:
            regions.append(region)
    return tuple(regions)


def _region_value(item: Any, keyword: str, tag: int, vr: str, default: float | None) -> Any:
    """One region attribute, as ``int(item.X)`` or ``float(item.get(X) or default)`` gives it."""
    convert = float if vr == "FD" else int
    value = _raw_number(item, tag, vr)
    if value is _SLOW:
        if default is None:
            return convert(getattr(item, keyword))  # AttributeError when absent: left out
        return convert(item.get(keyword) or default)
    if value is None:  # empty: pydicom gives None
        if default is None:
            raise TypeError(f"{keyword} is empty")  # as int(None) would
        return convert(default)
    return convert(value if default is None else value or default)


def _raw_number(item: Any, tag: int, vr: str) -> Any:
    """The single value of a still-raw element of ``vr``; None when empty; else ``_SLOW``."""
    elements = getattr(item, "_dict", None)
    elem = elements.get(tag) if isinstance(elements, dict) else None
    if type(elem) is not RawDataElement or elem.VR not in (vr, None):
        return _SLOW  # absent, converted, or of another VR: pydicom decides
    raw = elem.value
    if not isinstance(raw, bytes):
        return _SLOW  # a deferred read
    if not raw:
        return None
    unpacker = _STRUCTS[bool(elem.is_little_endian), vr]
    if len(raw) != unpacker.size:
        return _SLOW  # several values, or a length only pydicom can judge
    return unpacker.unpack(raw)[0]
