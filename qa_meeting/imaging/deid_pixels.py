"""Pixel de-identification: every frame decoded, cleaned and written uncompressed, one at a time.

Grey loops (MONOCHROME1/2) keep their stored values, bit depth and photometric; every other
one (RGB, YBR, palette) is decoded to 8-bit RGB and written as RGB with Planar Configuration 0.
Output is Explicit VR Little Endian, uncompressed: lossless, readable by every DICOM
reader and by the package verifier byte for byte, and written as it is produced, so memory
stays at a few frames whatever the loop's length (a package's zip deflates the zeros).
A contact sheet tiles every distinct cleaned frame with its frame numbers for the human
check before release.
"""

from __future__ import annotations

import hashlib
import math
import struct
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset
from pydicom.pixels.utils import iter_pixels
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from qa_meeting import __version__
from qa_meeting.domain.deid import (
    DeidRefusedError,
    PixelMethod,
    PixelPlan,
    PixelRule,
    parse_pixel_rules,
)
from qa_meeting.domain.scans import DicomHeader
from qa_meeting.imaging.colour import GREY, CineDecodeError
from qa_meeting.imaging.deid_header import encode_dataset, holds_encoded
from qa_meeting.imaging.deid_profile import GREY_DISPLAY_KEYWORDS
from qa_meeting.imaging.frames import MAX_FRAMES, iter_rgb_frames

__all__ = ["MAX_FRAMES", "ContactSheet", "PixelLayout", "load_pixel_rules"]

RULES_PACKAGE, RULES_FILE = "qa_meeting", "deid_rules/ultrasound_models.toml"
SHEET_TILE_WIDTH = 320  # about half a frame: burned-in text stays readable
SHEET_COLUMNS = 6
SHEET_BUDGET_BYTES = 48 * 2**20  # thumbnails kept for the sheet, whatever the loop's length
_LABEL_HEIGHT = 14
_MAX_NATIVE_BYTES = 0xFFFFFFFE  # an explicit-length Pixel Data value must fit 32 bits
_PIXEL_TAGS = {
    "Rows": 0x00280010,
    "Columns": 0x00280011,
    "SamplesPerPixel": 0x00280002,
    "PhotometricInterpretation": 0x00280004,
    "BitsAllocated": 0x00280100,
    "BitsStored": 0x00280101,
    "HighBit": 0x00280102,
    "PixelRepresentation": 0x00280103,
}
_LOSSY_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81"}
    | {"1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.4.201"}
)


@cache
def load_pixel_rules(*, include_examples: bool = False) -> tuple[PixelRule, ...]:
    """The built-in per-model rules; example rules only when asked for (they are unverified)."""
    text = (files(RULES_PACKAGE) / RULES_FILE).read_text(encoding="utf-8")
    rules = parse_pixel_rules(tomllib.loads(text), RULES_FILE)
    return tuple(rule for rule in rules if include_examples or not rule.example)


@dataclass(frozen=True)
class PixelLayout:
    """The cleaned pixels as written."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str

    @property
    def dtype(self) -> np.dtype[Any]:
        kind = "i" if self.pixel_representation else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")

    @property
    def frame_shape(self) -> tuple[int, ...]:
        shape = (self.rows, self.columns)
        return (*shape, self.samples) if self.samples > 1 else shape

    @property
    def frame_nbytes(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated // 8


def output_layout(header: DicomHeader, ds: Dataset) -> PixelLayout:
    """Grey stays grey at its depth; everything else becomes 8-bit RGB."""
    common = {"rows": header.rows, "columns": header.columns, "frames": header.number_of_frames}
    if header.photometric_interpretation in GREY and header.samples_per_pixel == 1:
        allocated = header.bits_allocated
        if allocated not in (8, 16):
            raise CineDecodeError(f"This grey loop has {allocated}-bit pixels; cannot clean it.")
        stored = int(ds.get("BitsStored") or allocated)
        signed = int(ds.get("PixelRepresentation") or 0)
        stored = stored if 0 < stored <= allocated else allocated
        grey = header.photometric_interpretation
        return PixelLayout(samples=1, bits_allocated=allocated, bits_stored=stored,
                           pixel_representation=signed, photometric=grey, **common)  # fmt: skip
    return PixelLayout(samples=3, bits_allocated=8, bits_stored=8, pixel_representation=0,
                       photometric="RGB", **common)  # fmt: skip


def set_pixel_attributes(ds: Dataset, layout: PixelLayout, source_syntax: str) -> None:
    """The Image Pixel attributes of the cleaned pixels; lossy history carried over."""
    for keyword, vr, value in (
        ("Rows", "US", layout.rows),
        ("Columns", "US", layout.columns),
        ("SamplesPerPixel", "US", layout.samples),
        ("PhotometricInterpretation", "CS", layout.photometric),
        ("BitsAllocated", "US", layout.bits_allocated),
        ("BitsStored", "US", layout.bits_stored),
        ("HighBit", "US", layout.bits_stored - 1),
        ("PixelRepresentation", "US", layout.pixel_representation),
    ):
        if not holds_encoded(ds, _PIXEL_TAGS[keyword], vr, value):
            setattr(ds, keyword, value)  # an element read as it would be written stays raw
    if layout.samples > 1:
        ds.PlanarConfiguration = 0
        for keyword in GREY_DISPLAY_KEYWORDS:
            ds.pop(keyword, None)
    else:
        ds.pop("PlanarConfiguration", None)
    if source_syntax in _LOSSY_SYNTAXES or str(ds.get("LossyImageCompression", "")) == "01":
        ds.LossyImageCompression = "01"  # decoding does not undo an earlier lossy step


def cleaned_frames(
    path: Path, layout: PixelLayout, plan: PixelPlan, max_decoded_bytes: int
) -> Iterator[NDArray[Any]]:
    """Each frame of ``path`` decoded and cleaned by ``plan``, in the output layout."""
    if layout.samples == 1:
        decoded: Iterable[NDArray[Any]] = iter_pixels(path)
    else:
        decoded = iter_rgb_frames(path, max_decoded_bytes=max_decoded_bytes)
    for index, frame in enumerate(decoded):
        if frame.shape != layout.frame_shape:
            raise CineDecodeError(
                f"Frame {index + 1} decodes to {frame.shape}, not the {layout.frame_shape} "
                "its header declares: the file is damaged."
            )
        yield apply_plan(frame.astype(layout.dtype, copy=False), plan)


def apply_plan(frame: NDArray[Any], plan: PixelPlan) -> NDArray[Any]:
    """A new array: ``frame`` with every pixel the plan does not keep set to zero."""
    if plan.method is PixelMethod.RULE:
        out = np.array(frame, copy=True, order="C")
        for rect in plan.blank:
            out[rect.y0 : rect.y1 + 1, rect.x0 : rect.x1 + 1] = 0
        return out
    out = np.zeros_like(frame, order="C")
    for rect in plan.keep:
        box = (slice(rect.y0, rect.y1 + 1), slice(rect.x0, rect.x1 + 1))
        out[box] = frame[box]
    return out


def write_pixel_data(
    out: BinaryIO,
    frames: Iterable[NDArray[Any]],
    layout: PixelLayout,
    sheet_out: BinaryIO | None,
) -> int:
    """Append Pixel Data (explicit VR little endian) frame by frame; distinct frames written."""
    total = layout.frame_nbytes * layout.frames
    padded = total + total % 2
    if padded > _MAX_NATIVE_BYTES:
        raise CineDecodeError(
            f"The cleaned loop would hold {padded / 2**30:.1f} GiB of pixels, more than an "
            "uncompressed DICOM file can.",
            "Trim the loop to fewer frames on the machine or in the PACS and export it again.",
        )
    vr = b"OB" if layout.bits_allocated == 8 else b"OW"
    out.write(struct.pack("<HH", 0x7FE0, 0x0010) + vr + b"\0\0" + struct.pack("<I", padded))
    sheet = ContactSheet(layout, thumbnails=sheet_out is not None)
    count = 0
    for frame in frames:
        if count >= layout.frames:
            break
        out.write(np.ascontiguousarray(frame, dtype=layout.dtype).tobytes())
        sheet.add(frame, count)
        count += 1
    if count != layout.frames:
        raise CineDecodeError(
            f"This loop holds {count} frames, not the {layout.frames} its header declares."
        )
    if total % 2:
        out.write(b"\0")
    if sheet_out is not None:
        sheet.save(sheet_out)
    return sheet.distinct


class ContactSheet:
    """Thumbnails of every distinct frame (by hash), labelled with their frame numbers."""

    def __init__(self, layout: PixelLayout, *, thumbnails: bool = True) -> None:
        pixels_per_tile = SHEET_BUDGET_BYTES / max(layout.frames, 1) / 3
        area = layout.rows * layout.columns
        scale = min(SHEET_TILE_WIDTH / layout.columns, 1.0, math.sqrt(pixels_per_tile / area))
        self.size = (max(int(layout.columns * scale), 16), max(int(layout.rows * scale), 16))
        self.mode = "L" if layout.samples == 1 else "RGB"
        self._thumbnails = thumbnails
        self._seen: dict[bytes, int] = {}
        self._tiles: list[Image.Image] = []
        self._numbers: list[list[int]] = []

    @property
    def distinct(self) -> int:
        return len(self._numbers)

    def add(self, frame: NDArray[Any], index: int) -> None:
        digest = hashlib.sha256(np.ascontiguousarray(frame).data).digest()  # hardware-assisted
        if digest in self._seen:
            self._numbers[self._seen[digest]].append(index + 1)
            return
        self._seen[digest] = len(self._numbers)
        if self._thumbnails:
            self._tiles.append(_thumbnail(frame, self.size, self.mode))
        self._numbers.append([index + 1])

    def save(self, out: BinaryIO) -> None:
        columns = min(SHEET_COLUMNS, max(len(self._tiles), 1))
        rows = max(math.ceil(len(self._tiles) / columns), 1)
        width, height = self.size[0], self.size[1] + _LABEL_HEIGHT
        sheet = Image.new(self.mode, (columns * width, rows * height), "#282828")
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=11)
        for position, (tile, numbers) in enumerate(zip(self._tiles, self._numbers, strict=True)):
            x, y = position % columns * width, position // columns * height
            sheet.paste(tile, (x, y))
            draw.text((x + 3, y + self.size[1] + 1), _label(numbers), fill="#ffff00", font=font)
        sheet.save(out, format="PNG", compress_level=1)  # zlib's fastest: 5x quicker, 1.3x bigger


def _thumbnail(frame: NDArray[Any], size: tuple[int, int], mode: str) -> Image.Image:
    if frame.ndim == 2 and frame.dtype != np.uint8:
        low, high = float(frame.min()), float(frame.max())
        span = high - low or 1.0
        frame = ((frame.astype(np.float32) - low) * (255.0 / span)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(frame)).convert(mode)
    return image.resize(size, Image.Resampling.BOX)  # area average: text stays legible


def _label(numbers: list[int]) -> str:
    text = f"frame {numbers[0]}"
    return text if len(numbers) == 1 else f"{text} (+{len(numbers) - 1} identical)"


PREAMBLE = b"\0" * 128


def encode_header(ds: Dataset, sop_class: str, sop_instance: str) -> bytes:
    """``ds`` as a DICOM file up to (not including) Pixel Data, with a zeroed preamble."""
    try:
        body = encode_dataset(ds)
    except Exception as exc:  # an encoding pydicom refuses is a header we cannot vouch for
        raise DeidRefusedError(f"The de-identified header cannot be encoded: {exc}") from exc
    return PREAMBLE + b"DICM" + _file_meta(sop_class, sop_instance) + body


def _file_meta(sop_class: str, sop_instance: str) -> bytes:
    """The File Meta Information group, encoded directly: six elements, always the same kind."""
    version = f"QAMEETING_{__version__}"[:16].encode("ascii")
    elements = (
        (0x0001, b"OB", b"\0\1"),  # File Meta Information Version
        (0x0002, b"UI", sop_class.encode("ascii")),  # Media Storage SOP Class UID
        (0x0003, b"UI", sop_instance.encode("ascii")),  # Media Storage SOP Instance UID
        (0x0010, b"UI", ExplicitVRLittleEndian.encode("ascii")),  # Transfer Syntax UID
        (0x0012, b"UI", PYDICOM_IMPLEMENTATION_UID.encode("ascii")),  # Implementation Class
        (0x0013, b"SH", version),  # Implementation Version Name
    )
    body = b"".join(_meta_element(number, vr, value) for number, vr, value in elements)
    return _meta_element(0x0000, b"UL", struct.pack("<I", len(body))) + body


def _meta_element(number: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    if vr == b"OB":
        return struct.pack("<HH2sHI", 2, number, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", 2, number, vr, len(value)) + value
