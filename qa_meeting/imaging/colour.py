"""Turn one decoded frame into display RGB: 8 bits per channel, whatever its photometric.

``display_mapping`` works out once per cine, from the header, how stored values become screen
values (a grey or palette lookup table, or a window for data too deep for one); ``to_display_rgb``
applies it to each frame. Grey images use, in order: the VOI LUT Sequence, Window Center/Width,
the stored range for data of 8 bits or fewer (already display values: stretching them would make
the contrast pump from frame to frame), else each frame's own minimum and maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut

from qa_meeting.errors import QaMeetingError

Frame = NDArray[Any]
RGB = NDArray[np.uint8]

GREY = frozenset({"MONOCHROME1", "MONOCHROME2"})
YBR = frozenset({"YBR_FULL", "YBR_FULL_422"})
_MAX_TABLE_BITS = 16  # a 65536-entry table is small; deeper data is mapped frame by frame


class CineDecodeError(QaMeetingError):
    """The pixels of a stored scan cannot be turned into pictures."""

    default_remedy = (
        "Export the loop again from the ultrasound machine or PACS (uncompressed or JPEG "
        "Baseline plays everywhere) and ingest it again."
    )


@dataclass(frozen=True)
class Window:
    """Window Center/Width (0028,1050-1051) with its VOI LUT Function (0028,1056)."""

    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True, eq=False)
class DisplayMapping:
    """How stored values of one cine become display values.

    ``table`` maps stored value ``table_offset + i`` to ``table[i]``: grey ``(n,)`` or palette
    ``(n, 3)``. Without a table, grey frames go through ``window`` or are stretched each.
    """

    bits_stored: int
    table: RGB | None = None
    table_offset: int = 0
    window: Window | None = None
    invert: bool = False


def display_mapping(ds: Any) -> DisplayMapping:
    """The mapping for the image described by header ``ds`` (a pydicom dataset)."""
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    bits_allocated = int(ds.get("BitsAllocated") or 8)
    bits_stored = int(ds.get("BitsStored") or bits_allocated)
    bits_stored = bits_stored if 0 < bits_stored <= bits_allocated else bits_allocated
    if photometric not in GREY and photometric != "PALETTE COLOR":
        return DisplayMapping(bits_stored)
    invert = photometric == "MONOCHROME1"
    window = _window(ds)
    if bits_stored > _MAX_TABLE_BITS:
        if photometric == "PALETTE COLOR":
            raise CineDecodeError(f"This colour-palette image has {bits_stored}-bit indices.")
        return DisplayMapping(bits_stored, window=window, invert=invert)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    low = -(2 ** (bits_stored - 1)) if signed else 0
    stored = np.arange(low, low + 2**bits_stored, dtype=np.int64)
    if photometric == "PALETTE COLOR":
        return DisplayMapping(bits_stored, _palette_table(ds, stored), low)
    if ds.get("VOILUTSequence"):
        try:
            return DisplayMapping(bits_stored, _voi_table(ds, stored), low, invert=invert)
        except Exception:  # a malformed VOI LUT is ignored (tolerant on read): window instead
            pass
    if window is not None:
        table = _apply_window(_modality(ds, stored), window)
    elif bits_stored <= 8:
        table = _stretch(stored, low, low + 2**bits_stored - 1)
    else:
        return DisplayMapping(bits_stored, invert=invert)
    return DisplayMapping(bits_stored, table, low, invert=invert)


def to_display_rgb(frame: Frame, photometric: str, mapping: DisplayMapping) -> RGB:
    """``frame`` (rows, columns[, samples]) as it came out of the decoder, as display RGB.

    ``photometric`` is the decoder's word for ``frame``: JPEG and JPEG 2000 decoders may have
    converted YBR to RGB already.
    """
    if photometric in GREY:
        grey = _grey(frame, mapping)
        return np.ascontiguousarray(np.repeat(grey[..., np.newaxis], 3, axis=2))
    if photometric == "PALETTE COLOR":
        if mapping.table is None or mapping.table.ndim != 2:
            raise CineDecodeError("This colour-palette image has no usable palette.")
        return _lookup(frame, mapping.table, mapping.table_offset)
    if frame.ndim != 3 or frame.shape[2] < 3:
        raise CineDecodeError(f"This {photometric} image does not have three colour samples.")
    rgb = _to_uint8(frame[..., :3], mapping.bits_stored)
    if photometric in YBR:
        height, width = rgb.shape[:2]
        image = Image.frombuffer("YCbCr", (width, height), rgb, "raw", "YCbCr", 0, 1)
        converted = np.frombuffer(image.convert("RGB").tobytes(), dtype=np.uint8)
        return converted.reshape(height, width, 3)
    if photometric != "RGB":
        raise CineDecodeError(
            f"This image stores its colours as {photometric}, which this app cannot display."
        )
    return rgb


def _grey(frame: Frame, mapping: DisplayMapping) -> RGB:
    if mapping.table is not None:
        grey = _lookup(frame, mapping.table, mapping.table_offset)
    elif mapping.window is not None:
        grey = _apply_window(frame.astype(np.float64), mapping.window)
    else:
        grey = _stretch(frame, int(frame.min()), int(frame.max()))
    return 255 - grey if mapping.invert else grey


def _lookup(frame: Frame, table: RGB, offset: int) -> RGB:
    index = frame.astype(np.int64) - offset if offset else frame
    return np.ascontiguousarray(np.take(table, index, axis=0, mode="clip"))


def _to_uint8(frame: Frame, bits_stored: int) -> RGB:
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    shift = max(bits_stored - 8, 0)
    return np.ascontiguousarray(np.clip(frame >> shift, 0, 255).astype(np.uint8))


def _stretch(values: Frame, low: int, high: int) -> RGB:
    """Map ``low``..``high`` linearly onto 0..255."""
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _window(ds: Any) -> Window | None:
    center, width = _first_number(ds, "WindowCenter"), _first_number(ds, "WindowWidth")
    if center is None or width is None or not np.isfinite(center) or not width > 0:
        return None
    function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
    if function == "LINEAR" and width < 1:
        return None
    return Window(center, width, function)


def _apply_window(values: NDArray[np.float64], window: Window) -> RGB:
    """PS3.3 C.11.2.1.2 windowing onto 0..255 (SIGMOID, LINEAR_EXACT, else LINEAR)."""
    center, width = window.center, window.width
    if window.function == "SIGMOID":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif window.function == "LINEAR_EXACT":
        out = ((values - center) / width + 0.5) * 255.0
    elif width > 1:
        out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    else:
        out = np.where(values > center - 0.5, 255.0, 0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _modality(ds: Any, stored: Frame) -> NDArray[np.float64]:
    try:
        return np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    except Exception:  # a malformed Modality LUT is ignored (tolerant on read)
        return stored.astype(np.float64)


def _voi_table(ds: Any, stored: Frame) -> RGB:
    item = ds.VOILUTSequence[0]
    entries, first, depth = _descriptor(item.LUTDescriptor)
    lut = _lut_values(ds, item.LUTData, entries).astype(np.float64)
    values = np.rint(_modality(ds, stored)).astype(np.int64)
    output = lut[np.clip(values - first, 0, entries - 1)]
    top = max(2.0**depth - 1, float(lut.max()))
    return np.clip(np.rint(output * (255.0 / top)), 0, 255).astype(np.uint8)


def _palette_table(ds: Any, stored: Frame) -> RGB:
    """One RGB entry per stored value, from the Palette Color LUT (plain or segmented)."""
    lut: NDArray[Any]
    try:
        entries, first, _ = _descriptor(ds.RedPaletteColorLookupTableDescriptor)
        if "RedPaletteColorLookupTableData" in ds:
            colours = ("Red", "Green", "Blue")
            data = [ds[f"{colour}PaletteColorLookupTableData"].value for colour in colours]
            lut = np.stack([_lut_values(ds, values, entries) for values in data], axis=1)
        else:  # segmented: pydicom expands the segments
            lut = apply_color_lut(np.arange(first, first + entries, dtype=np.int64), ds)[:, :3]
    except Exception as exc:  # pydicom raises many types on a malformed palette
        raise CineDecodeError("The colour palette of this image is missing or damaged.") from exc
    if lut.max() > 255:  # 16-bit entries; some machines declare 16 but store 8-bit values
        lut = lut >> 8
    positions = np.clip(stored - first, 0, entries - 1)
    return np.ascontiguousarray(lut[positions].astype(np.uint8))


def _descriptor(value: Any) -> tuple[int, int, int]:
    """(entries, first value mapped, bits per entry) of a LUT Descriptor; 0 entries is 65536."""
    entries, first, depth = (int(v) for v in value)
    return entries or 2**16, first, depth


def _lut_values(ds: Any, data: Any, entries: int) -> NDArray[np.uint16]:
    """LUT Data as numbers: a list (VR US) or bytes (OW or OB: 8 or 16 bits each, by length).

    pydicom's own LUT functions index through the LUT's dtype, which wraps for an 8-bit LUT of
    more than 256 entries, so plain LUTs are read here.
    """
    if not isinstance(data, bytes | bytearray):
        values = np.asarray(data if isinstance(data, Sequence) else [data], dtype=np.int64)
        return values[:entries].astype(np.uint16)
    if len(data) < 2 * entries:
        return np.frombuffer(data, dtype=np.uint8)[:entries].astype(np.uint16)
    little = ds.original_encoding[1] is not False
    return np.frombuffer(data, dtype="<u2" if little else ">u2")[:entries].astype(np.uint16)


def _first_number(ds: Any, keyword: str) -> float | None:
    """The first value of a numeric attribute (several windows may be given), or None."""
    try:
        value = ds.get(keyword)
        if isinstance(value, Sequence) and not isinstance(value, str):
            value = value[0] if value else None
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None
