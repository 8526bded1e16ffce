"""A cine loop as the player sees it: size, encoding, when each frame starts, and its scale.

Pure types and arithmetic: ``imaging.frames.open_cine`` fills a ``CineInfo`` from a DICOM header;
the player, the key-frame picker and the measuring tool use the functions here. Field names follow
the DICOM attributes they come from.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class FrameRateSource(StrEnum):
    """Which attribute gave the frame timing, in the order they are tried."""

    FRAME_TIME = "FrameTime"
    FRAME_TIME_VECTOR = "FrameTimeVector"
    CINE_RATE = "CineRate"
    RECOMMENDED_DISPLAY_FRAME_RATE = "RecommendedDisplayFrameRate"
    DEFAULT = "default"


class PhysicalUnits(IntEnum):
    """Values of Physical Units X/Y Direction (0018,6024 and 0018,6026) used here."""

    NONE = 0
    PERCENT = 1
    DB = 2
    CM = 3
    SECONDS = 4
    HERTZ = 5


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the Sequence of Ultrasound Regions (0018,6011).

    Corners are pixel positions (x = column, y = row), both inclusive. ``physical_delta_x`` and
    ``physical_delta_y`` are the physical size of one pixel in ``physical_units_x``/``_y``
    (cm for a 2D image); machines may store them negative when the axis points left or up.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    physical_delta_x: float
    physical_delta_y: float
    physical_units_x: int
    physical_units_y: int
    region_data_type: int
    region_spatial_format: int = 0

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    @property
    def area(self) -> int:
        return (self.x1 - self.x0 + 1) * (self.y1 - self.y0 + 1)

    @property
    def is_spatial_cm(self) -> bool:
        """True when both axes are in cm with a usable pixel size (distances make sense)."""
        return (
            self.physical_units_x == PhysicalUnits.CM
            and self.physical_units_y == PhysicalUnits.CM
            and all(
                math.isfinite(d) and d != 0 for d in (self.physical_delta_x, self.physical_delta_y)
            )
        )


@dataclass(frozen=True)
class CineInfo:
    """What the header of one DICOM image or cine loop says, before any pixel is decoded."""

    rows: int
    columns: int
    number_of_frames: int
    samples_per_pixel: int
    bits_allocated: int
    photometric_interpretation: str
    transfer_syntax_uid: str
    transfer_syntax_name: str
    timestamps_ms: tuple[float, ...]
    """Start time of each frame; the first is 0."""
    frame_rate_source: FrameRateSource
    duration_ms: float
    """From the start of the first frame to the end of the last."""
    frames_per_second: float
    """Mean rate over the loop."""
    variable_timing: bool
    regions: tuple[UltrasoundRegion, ...] = ()

    def __post_init__(self) -> None:
        if len(self.timestamps_ms) != self.number_of_frames:
            raise ValueError("timestamps_ms must hold one start time per frame")


def frame_at_time(timestamps_ms: Sequence[float], t_ms: float) -> int:
    """Index of the frame on screen at ``t_ms`` (clamped to the first and the last frame)."""
    if not timestamps_ms:
        raise ValueError("a cine loop has at least one frame")
    index = bisect_right(timestamps_ms, t_ms) - 1
    return min(max(index, 0), len(timestamps_ms) - 1)


def region_at(regions: Sequence[UltrasoundRegion], x: float, y: float) -> UltrasoundRegion | None:
    """The region holding pixel (x, y); the smallest one when regions overlap, else None.

    Machines often declare a region for the whole screen and smaller ones for each image
    inside it: the smallest is the one whose scale applies.
    """
    holding = [region for region in regions if region.contains(x, y)]
    return min(holding, key=lambda region: region.area) if holding else None


def distance_mm(
    regions: Sequence[UltrasoundRegion], p0: tuple[float, float], p1: tuple[float, float]
) -> float | None:
    """Distance in mm between two pixels (x, y), or None unless both lie in one cm region.

    "One region" is the innermost region of each point (see ``region_at``): a line from one
    image pane to another has no physical length even if a screen-wide region holds both.
    """
    region = region_at(regions, *p0)
    if region is None or region != region_at(regions, *p1) or not region.is_spatial_cm:
        return None
    dx_cm = (p1[0] - p0[0]) * abs(region.physical_delta_x)
    dy_cm = (p1[1] - p0[1]) * abs(region.physical_delta_y)
    return math.hypot(dx_cm, dy_cm) * 10.0
