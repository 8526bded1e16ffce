"""De-identification, the pure part: option codes, value rules, pixel rules and masks, reports.

The values every export derives from the site's secret come from ``DeidKeys``: new UIDs
(HMAC-SHA256 of the original, as 2.25 + a version-8 UUID: same UID and key, same new UID;
outsiders cannot recompute it), one date shift per patient, pseudonym codes.

Which pixels of an ultrasound loop may leave the hospital is decided here, without I/O:
``plan_pixels`` keeps a caller's mask if one is given, else the union of the Sequence of
Ultrasound Regions data areas, else applies a per-model rule (rectangles to blank) matched
exactly on manufacturer, model, rows and columns; otherwise it refuses with ``NeedsMaskError``.
Rectangles are pixel positions (x = column, y = row), both corners inclusive, as in DICOM's
region coordinates. ``imaging/deidentify.py`` does the DICOM work and fills a ``DeidReport``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum, StrEnum
from typing import Any, Literal, NoReturn

from qa_meeting.domain.cine import UltrasoundRegion
from qa_meeting.errors import ConfigurationError, QaMeetingError, ValidationError

# Region Spatial Format (0018,6012) values whose regions hold image data: 2D, M-mode,
# spectral and waveform. 0 (none) and 5 (graphics) regions are calibration or annotation.
DATA_SPATIAL_FORMATS = frozenset({1, 2, 3, 4})
MASK_HELP = "X0,Y0,X1,Y1 (pixel columns and rows, corners inclusive)"
MIN_SHIFT_DAYS, MAX_SHIFT_DAYS = 365, 3652  # dates move back 1 to 10 years
MAX_AGE_YEARS = 90  # older ages are written as 090Y (too few people are older)


class DeidOption(Enum):
    """CID 7050 De-identification Method codes (DCM) this app may apply."""

    BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
    CLEAN_PIXEL_DATA = ("113101", "Clean Pixel Data Option")
    RETAIN_MODIFIED_DATES = (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    )
    RETAIN_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def meaning(self) -> str:
        return self.value[1]


class PixelMethod(StrEnum):
    """How the pixels outside the image data were found."""

    REGIONS = "regions"  # kept the union of the ultrasound regions' data areas
    RULE = "rule"  # blanked a per-model rule's rectangles
    MASK = "mask"  # kept a caller's (an expert's) rectangles


class NeedsMaskError(QaMeetingError):
    """No region information and no rule: a person must say which pixels to keep."""

    default_remedy = (
        f"An expert draws the keep-rectangle in the app, or pass --mask {MASK_HELP} "
        "to qa-meeting deidentify."
    )


class DeidRefusedError(QaMeetingError):
    """Writing this file could leave something identifying in it."""

    default_remedy = (
        "Nothing was written. Export the loop again from the machine or PACS, or ask an "
        "administrator to look at the attribute named in the message."
    )


@dataclass(frozen=True)
class DeidKeys:
    """The site's secret, and what it derives: new UIDs, date shifts, pseudonym codes."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ValidationError("The de-identification secret must be at least 16 bytes.")

    def _digest(self, purpose: str, value: str) -> bytes:
        message = f"{purpose}\0{value}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """2.25.<int> of a version-8 UUID made from HMAC-SHA256 of ``original``."""
        raw = bytearray(self._digest("uid", original.strip())[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # version 8 (custom)
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
        return f"2.25.{int.from_bytes(raw, 'big')}"

    def date_offset_days(self, patient_key: str) -> int:
        span = MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1
        value = int.from_bytes(self._digest("date-shift", patient_key)[:8], "big")
        return -(MIN_SHIFT_DAYS + value % span)

    def pseudonym_code(self, patient_key: str) -> str:
        return self._digest("pseudonym", patient_key)[:5].hex().upper()


def validate_pseudonym(pseudonym: str) -> str:
    """A Patient Name the header can carry: printable ASCII, no backslash, at most 64."""
    text = pseudonym.strip()
    if not text or len(text) > 64 or "\\" in text or not all(" " <= c <= "~" for c in text):
        raise ValidationError(
            f"The pseudonym {pseudonym!r} cannot be written: use 1 to 64 plain letters, "
            "digits, spaces or ^ (e.g. TEACHING^CASE 12), without a backslash."
        )
    return text


def shifted_date(value: str, offset_days: int | None) -> str | None:
    """A DA (or the date of a DT) moved by ``offset_days``; None if it is not a date."""
    digits = value.strip().replace(".", "")[:8]  # DT keeps only its date: times are dropped
    if offset_days is None or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        moved = date(int(digits[:4]), int(digits[4:6]), int(digits[6:])) + timedelta(offset_days)
    except (ValueError, OverflowError):
        return None
    return moved.strftime("%Y%m%d")


def capped_age(value: str) -> str:
    """A valid Patient Age (AS), over-90 ages written as 090Y; "" for anything else."""
    text = value.strip().upper()
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in "DWMY":
        return ""
    return f"{MAX_AGE_YEARS:03d}Y" if text[3] == "Y" and int(text[:3]) > MAX_AGE_YEARS else text


@dataclass(frozen=True)
class Rect:
    """A rectangle of pixels, corners inclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    def __post_init__(self) -> None:
        if min(self.x0, self.y0) < 0 or self.x1 < self.x0 or self.y1 < self.y0:
            raise ValidationError(
                f"The rectangle {self} is not valid: corners must be {MASK_HELP}, "
                "with X0 <= X1 and Y0 <= Y1."
            )

    def __str__(self) -> str:
        return f"{self.x0},{self.y0},{self.x1},{self.y1}"

    def fits(self, rows: int, columns: int) -> bool:
        return self.x1 < columns and self.y1 < rows

    def clipped(self, rows: int, columns: int) -> Rect | None:
        """This rectangle cut to a frame of ``rows`` x ``columns``; None if it lies outside."""
        if self.x0 >= columns or self.y0 >= rows:
            return None
        return Rect(self.x0, self.y0, min(self.x1, columns - 1), min(self.y1, rows - 1))


def parse_rect(text: str) -> Rect:
    """``"X0,Y0,X1,Y1"`` as a ``Rect`` (what ``--mask`` takes)."""
    match = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*", text)
    if match is None:
        raise ValidationError(f"{text!r} is not a mask: give {MASK_HELP}, e.g. 0,60,639,479.")
    x0, y0, x1, y1 = (int(group) for group in match.groups())
    return Rect(x0, y0, x1, y1)


@dataclass(frozen=True)
class PixelRule:
    """Rectangles to blank on every frame of one machine model at one image size."""

    name: str
    manufacturer: str
    model: str
    rows: int
    columns: int
    blank: tuple[Rect, ...]
    source: str = ""
    example: bool = False  # unverified: ignored unless examples are asked for

    def matches(self, manufacturer: str, model: str, rows: int, columns: int) -> bool:
        return (self.manufacturer, self.model, self.rows, self.columns) == (
            manufacturer.strip(),
            model.strip(),
            rows,
            columns,
        )


@dataclass(frozen=True)
class PixelPlan:
    """What to do to every frame: keep only ``keep`` (regions, mask) or blank ``blank`` (rule)."""

    method: PixelMethod
    keep: tuple[Rect, ...] = ()
    blank: tuple[Rect, ...] = ()
    rule_name: str = ""


def plan_pixels(
    *,
    rows: int,
    columns: int,
    manufacturer: str,
    model: str,
    regions: Sequence[UltrasoundRegion],
    rules: Sequence[PixelRule],
    mask: Sequence[Rect] | None = None,
) -> PixelPlan:
    """Mask, else data regions, else a matching rule; ``NeedsMaskError`` when there is none.

    A region declaring the whole frame, or one that is not an image-data region (spatial
    format none or graphics), says nothing about where the banner is and is not used.
    """
    if mask:
        outside = [rect for rect in mask if not rect.fits(rows, columns)]
        if outside:
            raise ValidationError(
                f"The mask {outside[0]} reaches outside this {columns} x {rows} image.",
                f"Give rectangles within 0,0,{columns - 1},{rows - 1}.",
            )
        return PixelPlan(PixelMethod.MASK, keep=tuple(mask))
    keep = _data_areas(regions, rows, columns)
    if keep:
        return PixelPlan(PixelMethod.REGIONS, keep=keep)
    for rule in rules:
        if rule.matches(manufacturer, model, rows, columns):
            return PixelPlan(PixelMethod.RULE, blank=rule.blank, rule_name=rule.name)
    machine = " ".join(part for part in (manufacturer.strip(), model.strip()) if part)
    raise NeedsMaskError(
        f"This loop ({machine or 'unknown machine'}, {columns} x {rows}) has no ultrasound "
        "region information and no pixel rule for its model: it needs a mask."
    )


def _data_areas(regions: Sequence[UltrasoundRegion], rows: int, columns: int) -> tuple[Rect, ...]:
    areas: list[Rect] = []
    for region in regions:
        if region.region_spatial_format not in DATA_SPATIAL_FORMATS:
            continue
        rect = Rect(max(region.x0, 0), max(region.y0, 0), region.x1, region.y1).clipped(
            rows, columns
        )
        if rect is not None and rect != Rect(0, 0, columns - 1, rows - 1):
            areas.append(rect)
    return tuple(areas)


def parse_pixel_rules(data: Mapping[str, Any], source: str) -> tuple[PixelRule, ...]:
    """The ``[[rule]]`` tables of a rule file (see ``deid_rules/ultrasound_models.toml``)."""
    if data.get("schema") != 1:
        _bad(source, "schema", "must be 1")
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        _bad(source, "rule", "must be a list of [[rule]] tables")
    return tuple(_rule(entry, f"rule[{index}]", source) for index, entry in enumerate(entries))


def _rule(entry: Any, where: str, source: str) -> PixelRule:
    if not isinstance(entry, Mapping):
        _bad(source, where, "must be a table")
    texts = {key: entry.get(key) for key in ("name", "manufacturer", "model", "source")}
    for key, value in texts.items():
        if not isinstance(value, str) or (key != "source" and not value.strip()):
            _bad(source, f"{where}.{key}", "must be a non-empty string")
    sizes = {key: entry.get(key) for key in ("rows", "columns")}
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            _bad(source, f"{where}.{key}", "must be a positive whole number")
    blank = entry.get("blank")
    if not isinstance(blank, list) or not blank:
        _bad(source, f"{where}.blank", "must list [x0, y0, x1, y1] rectangles")
    rects: list[Rect] = []
    for index, corners in enumerate(blank):
        ok = isinstance(corners, list) and len(corners) == 4
        if not ok or not all(isinstance(c, int) and not isinstance(c, bool) for c in corners):
            _bad(source, f"{where}.blank[{index}]", "must be [x0, y0, x1, y1] whole numbers")
        try:
            rect = Rect(*corners)
        except ValidationError:
            _bad(source, f"{where}.blank[{index}]", "must have x0 <= x1 and y0 <= y1")
        if not rect.fits(int(entry["rows"]), int(entry["columns"])):
            _bad(source, f"{where}.blank[{index}]", "reaches outside rows x columns")
        rects.append(rect)
    example = entry.get("example", False)
    if not isinstance(example, bool):
        _bad(source, f"{where}.example", "must be true or false")
    return PixelRule(
        name=str(texts["name"]).strip(),
        manufacturer=str(texts["manufacturer"]).strip(),
        model=str(texts["model"]).strip(),
        rows=int(entry["rows"]),
        columns=int(entry["columns"]),
        blank=tuple(rects),
        source=str(texts["source"]),
        example=example,
    )


def _bad(source: str, where: str, problem: str) -> NoReturn:
    raise ConfigurationError(
        f"{source}: {where} {problem}.",
        "Fix the pixel rule file named in the message; its header explains the format.",
    )


@dataclass(frozen=True)
class DeidReport:
    """What de-identifying one file did. Original identifiers stay in memory only."""

    output: str
    contact_sheet: str
    method: tuple[str, ...]  # De-identification Method (0012,0063)
    options: tuple[DeidOption, ...]
    pixel_method: PixelMethod
    pixel_rule: str
    pixel_rects: tuple[Rect, ...]  # kept (regions, mask) or blanked (rule)
    frames: int
    distinct_frames: int
    transfer_syntax_in: str
    transfer_syntax_out: str
    removed: tuple[str, ...]  # keywords (or tags) of attributes removed, nested ones included
    emptied: tuple[str, ...]
    replaced: tuple[str, ...]
    remapped_uids: tuple[str, ...]
    shifted_dates: tuple[str, ...]
    date_shift_days: int | None = field(default=None, repr=False)
    original_identifiers: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """Everything but the original identifiers and the date shift, for the CLI."""
        return {
            "output": self.output,
            "contact_sheet": self.contact_sheet,
            "method": list(self.method),
            "option_codes": [option.code for option in self.options],
            "pixel_method": self.pixel_method.value,
            "pixel_rule": self.pixel_rule,
            "pixel_rects": [str(rect) for rect in self.pixel_rects],
            "frames": self.frames,
            "distinct_frames": self.distinct_frames,
            "transfer_syntax_in": self.transfer_syntax_in,
            "transfer_syntax_out": self.transfer_syntax_out,
            "removed": list(self.removed),
            "emptied": list(self.emptied),
            "replaced": list(self.replaced),
            "remapped_uids": list(self.remapped_uids),
            "shifted_dates": list(self.shifted_dates),
        }


@dataclass(frozen=True)
class DeidResult:
    """One input file's outcome: done (with its report) or blocked (with reason and remedy)."""

    source: str
    status: Literal["done", "blocked"]
    output: str = ""
    reason: str = ""
    remedy: str = ""
    needs_mask: bool = False
    report: DeidReport | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source, "status": self.status}
        if self.status == "blocked":
            data |= {"reason": self.reason, "remedy": self.remedy, "needs_mask": self.needs_mask}
        if self.report is not None:
            data |= {"output": self.output, "report": self.report.to_json()}
        return data
