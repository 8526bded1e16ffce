"""Read and vet DICOM headers before anything is stored or decoded.

``read_header`` opens the file once. It checks the DICM marker, then parses the file meta and
the dataset up to Pixel Data with pydicom's element generator, keeping the raw bytes of the few
elements it needs (decoded here, for the handful of VRs involved) and skipping over the values
of all others. The checks in ``dicom_checks`` then inspect the Pixel Data element in place: its
length for native data, its fragment items for compressed data, never its content. So a file
claiming 65535 x 65535 pixels costs a few kilobytes, not gigabytes, to refuse. The dataset of a
Deflated file is inflated as it is read, within a hard limit, and vetted like any other.
"""

from __future__ import annotations

import os
import struct
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import BinaryIO, cast

from pydicom.charset import convert_encodings, decode_bytes, default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.filereader import data_element_generator
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

from qa_meeting.domain.scans import DicomHeader, PixelGeometry, RejectionCode
from qa_meeting.imaging import dicom_checks as checks
from qa_meeting.imaging.dicom_checks import DicomRejectedError, Holds, InflatedDataset

__all__ = [
    "DEFER_SIZE",
    "DEFLATED_TRANSFER_SYNTAX",
    "DicomRejectedError",
    "is_probably_dicom",
    "read_header",
]

DEFER_SIZE = 4096
DEFLATED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1.99"
NATIVE_TRANSFER_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", DEFLATED_TRANSFER_SYNTAX}
)
# What an inflated dataset may hold besides its pixels: the header, and elements after them.
INFLATE_ALLOWANCE = 16 * 2**20
# Far beyond any scanner's header; bounds the work a file of padding or garbage can cause.
MAX_TOP_LEVEL_ELEMENTS = 50_000
# Longest value of a needed element read back after the parse skipped it (a Frame Time Vector).
MAX_DEFERRED_VALUE = 2**20

# The elements read_header decodes. Implicit VR files carry no VR, so the standard's is used.
_NEEDED_KEYWORDS = [
    "SpecificCharacterSet",
    *("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality"),
    *("StudyDate", "Manufacturer", "ManufacturerModelName", "OperatorsName"),
    *("FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate"),
    *("SequenceOfUltrasoundRegions", "PhotometricInterpretation", "NumberOfFrames"),
    *("Rows", "Columns", "SamplesPerPixel", "BitsAllocated"),
]
_META_KEYWORDS = ["MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID"]
_TAGS = {k: cast(int, tag_for_keyword(k)) for k in _NEEDED_KEYWORDS + _META_KEYWORDS}
_STANDARD_VR = {tag: str(dictionary_VR(tag)) for tag in _TAGS.values()}
_NEEDED_TAGS: list[BaseTag | int] = [_TAGS[keyword] for keyword in _NEEDED_KEYWORDS]
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # where stop_before_pixels stops
_BINARY_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_CHARSET_VRS = frozenset({"LO", "PN", "SH", "LT", "ST", "UC", "UT"})

_Element = RawDataElement | DataElement


def is_probably_dicom(path: Path) -> bool:
    """True when the file has the 128-byte preamble followed by the ``DICM`` marker."""
    try:
        with path.open("rb") as fp:
            head = fp.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def read_header(path: Path, *, max_frames: int, max_decoded_bytes: int) -> DicomHeader:
    """Read and vet the header of ``path`` without decoding (or loading) any pixels.

    Raises ``DicomRejectedError`` for anything that is not a complete, plausible ultrasound image.
    """
    try:
        fp = path.open("rb")
    except OSError:
        raise DicomRejectedError(
            RejectionCode.CANNOT_OPEN, "This file could not be opened.", checks.RECOPY
        ) from None
    with fp:
        size = os.fstat(fp.fileno()).st_size
        checks.check_marker(fp.read(132), size)
        meta = _Elements(_parse_meta(fp), little=True, source=fp)
        transfer_syntax = _transfer_syntax(meta)
        limits = {"max_frames": max_frames, "max_decoded_bytes": max_decoded_bytes}
        if transfer_syntax != DEFLATED_TRANSFER_SYNTAX:
            return _vet(fp, lambda end: end <= size, meta, transfer_syntax, None, **limits)
        inflated = InflatedDataset(fp, limit=INFLATE_ALLOWANCE)
        dataset = cast(BinaryIO, inflated)  # read, seek and tell are all pydicom uses
        return _vet(dataset, inflated.holds, meta, transfer_syntax, inflated, **limits)


def _vet(
    fp: BinaryIO,
    holds: Holds,
    meta: _Elements,
    transfer_syntax: str,
    inflated: InflatedDataset | None,
    *,
    max_frames: int,
    max_decoded_bytes: int,
) -> DicomHeader:
    """Parse and vet the dataset that starts at ``fp``'s position."""
    implicit, little = _dataset_encoding(fp, transfer_syntax)
    ds = _Elements(_parse(fp, implicit, little), little=little, source=fp)
    checks.check_header_complete(ds.elements.values(), fp.tell(), holds)
    pixel_data = checks.locate_pixel_data(fp, implicit=implicit, little=little)
    sop_class_uid = ds.text("SOPClassUID") or meta.text("MediaStorageSOPClassUID")
    checks.check_not_dicomdir(sop_class_uid)
    sop_instance = ds.text("SOPInstanceUID") or meta.text("MediaStorageSOPInstanceUID")
    sop_instance_uid = checks.valid_uid(sop_instance, "SOP Instance UID (the image's own id)")
    study_instance_uid = checks.valid_uid(ds.text("StudyInstanceUID"), "Study Instance UID")
    if pixel_data is None or pixel_data.length == 0:
        raise checks.no_image(sop_class_uid, described=ds.present("Rows"))
    geometry = _geometry(ds)
    checks.check_geometry(geometry, max_frames=max_frames, max_decoded_bytes=max_decoded_bytes)
    modality = ds.text("Modality")[:16]
    checks.check_ultrasound(modality, sop_class_uid)
    header = DicomHeader(
        sop_instance_uid=sop_instance_uid,
        sop_class_uid=sop_class_uid,
        study_instance_uid=study_instance_uid,
        series_instance_uid=ds.text("SeriesInstanceUID")[:64],
        modality=modality,
        rows=geometry.rows,
        columns=geometry.columns,
        number_of_frames=geometry.frames,
        samples_per_pixel=geometry.samples_per_pixel,
        bits_allocated=geometry.bits_allocated,
        photometric_interpretation=geometry.photometric_interpretation,
        transfer_syntax_uid=transfer_syntax,
        frame_time_ms=_frame_time_ms(ds),
        has_ultrasound_regions=_has_regions(ds),
        manufacturer=ds.text("Manufacturer")[:200],
        model_name=ds.text("ManufacturerModelName")[:200],
        study_date=_study_date(ds),
        operators_name=ds.text("OperatorsName")[:200],
    )
    if inflated is not None:  # header decoded: the rest streams through, bounded by the image
        pixels_end = pixel_data.value_offset + geometry.decoded_bytes()
        inflated.stream(min(max_decoded_bytes, pixels_end) + INFLATE_ALLOWANCE)
    native = transfer_syntax in NATIVE_TRANSFER_SYNTAXES
    checks.check_pixel_bytes(fp, holds, geometry, pixel_data, native=native)
    if inflated is not None:
        inflated.drain()
    return header


def _parse_meta(fp: BinaryIO) -> dict[int, _Element]:
    """The file meta elements (group 0002, always Explicit VR Little Endian)."""
    try:
        elements = data_element_generator(fp, False, True, lambda tag, vr, length: tag >> 16 != 2)
        return {element.tag: element for element in elements}
    except Exception:  # pydicom raises many types on malformed input; the file is at fault
        raise checks.unreadable("its file header (meta information) is damaged") from None


def _transfer_syntax(meta: _Elements) -> str:
    transfer_syntax = meta.text("TransferSyntaxUID")
    if not transfer_syntax:
        raise checks.unreadable("it does not say how it is encoded (no transfer syntax)")
    if _encoding(transfer_syntax) is None:
        raise checks.unreadable("it uses an encoding (transfer syntax) this app does not know")
    return transfer_syntax


@lru_cache(maxsize=64)
def _encoding(transfer_syntax: str) -> tuple[bool, bool] | None:
    """(implicit VR, little endian) of a transfer syntax pydicom knows; None for others."""
    uid = UID(transfer_syntax)
    return (uid.is_implicit_VR, uid.is_little_endian) if uid.is_transfer_syntax else None


def _dataset_encoding(fp: BinaryIO, transfer_syntax: str) -> tuple[bool, bool]:
    """(implicit VR, little endian): implicit VR if the first element has no VR, as pydicom."""
    implicit, little = _encoding(transfer_syntax) or (False, True)
    start = fp.tell()
    head = fp.read(6)
    fp.seek(start)
    if len(head) == 6:
        implicit = not (0x40 < head[4] < 0x5B and 0x40 < head[5] < 0x5B)
    return implicit, little


def _parse(fp: BinaryIO, implicit: bool, little: bool) -> dict[int, _Element]:
    """The needed elements before Pixel Data; the values of all others are skipped, unread."""
    count = 0

    def at_pixel_data(tag: BaseTag, vr: str | None, length: int) -> bool:
        nonlocal count
        count += 1
        return tag in _PIXEL_TAGS or count > MAX_TOP_LEVEL_ELEMENTS

    elements = data_element_generator(
        fp, implicit, little, at_pixel_data, DEFER_SIZE, specific_tags=_NEEDED_TAGS
    )
    try:
        found: dict[int, _Element] = {element.tag: element for element in elements}
    except DicomRejectedError:
        raise
    except RecursionError:
        raise checks.unreadable("it nests sequences more deeply than any scanner writes") from None
    except EOFError:
        raise checks.cut_short("header") from None
    except Exception:  # pydicom raises many types on malformed input; the file is at fault
        raise checks.unreadable("its header is malformed") from None
    if count > MAX_TOP_LEVEL_ELEMENTS:
        raise checks.unreadable("it holds implausibly many elements")
    return found


class _Elements:
    """Raw elements of one dataset, decoded on demand for the few VRs ``read_header`` uses."""

    def __init__(self, elements: dict[int, _Element], *, little: bool, source: BinaryIO) -> None:
        self.elements = elements
        self._little = little
        self._source = source  # to read back a value the parse skipped as long

    def get(self, keyword: str) -> _Element | None:
        return self.elements.get(_TAGS[keyword])

    def raw(self, keyword: str) -> tuple[str, bytes]:
        """The element's VR and value bytes; b"" when absent, a sequence, or too long."""
        element = self.get(keyword)
        if not isinstance(element, RawDataElement):
            return "", b""
        vr = element.VR if element.VR not in (None, "UN") else _STANDARD_VR[element.tag]
        value = element.value
        if value is None and 0 < element.length <= MAX_DEFERRED_VALUE:
            self._source.seek(element.value_tell)
            value = self._source.read(element.length)
        return str(vr), value or b""

    def present(self, keyword: str) -> bool:
        """Whether the element is there with a value other than padding."""
        vr, value = self.raw(keyword)
        return bool(value if vr in _BINARY_FORMATS else value.strip(b"\0 "))

    def text(self, keyword: str) -> str:
        """The value as text, values joined by backslashes, padding stripped; "" if none."""
        vr, value = self.raw(keyword)
        if not value or vr in _BINARY_FORMATS:
            return ""
        if vr in _CHARSET_VRS:
            delimiters = PN_DELIMS if vr == "PN" else TEXT_VR_DELIMS
            decoded = decode_bytes(value, self._encodings, delimiters)
        else:
            decoded = value.decode("latin-1")
        return "\\".join(part.rstrip("\0 ") for part in decoded.split("\\")).strip()

    def numbers(self, keyword: str) -> list[float]:
        """Each value as a number; [] if absent or malformed (tolerant on read)."""
        vr, value = self.raw(keyword)
        binary = _BINARY_FORMATS.get(vr)
        if binary is not None:
            count, remainder = divmod(len(value), struct.calcsize(binary))
            if remainder:
                return []
            values = struct.unpack(f"{'<' if self._little else '>'}{count}{binary}", value)
            return [float(v) for v in values]
        parts = (part.strip("\0 ") for part in value.decode("latin-1").split("\\"))
        try:
            return [float(part) for part in parts if part]
        except ValueError:
            return []

    def integer(self, keyword: str) -> int | None:
        numbers = self.numbers(keyword)
        return int(numbers[0]) if len(numbers) == 1 and numbers[0].is_integer() else None

    @cached_property
    def _encodings(self) -> list[str]:
        terms = [term.strip() for term in self.text("SpecificCharacterSet").split("\\")]
        return convert_encodings(terms) if any(terms) else [default_encoding]


def _geometry(ds: _Elements) -> PixelGeometry:
    """What the Image Pixel module claims; 0 frames when the count is given but unusable."""
    frames = ds.integer("NumberOfFrames") if ds.present("NumberOfFrames") else 1
    return PixelGeometry(
        rows=ds.integer("Rows") or 0,
        columns=ds.integer("Columns") or 0,
        frames=frames if frames is not None and frames > 0 else 0,
        samples_per_pixel=ds.integer("SamplesPerPixel") or 1,
        bits_allocated=ds.integer("BitsAllocated") or 0,
        photometric_interpretation=ds.text("PhotometricInterpretation")[:20],
    )


def _study_date(ds: _Elements) -> date | None:
    raw = ds.text("StudyDate")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])) if len(raw) == 8 else None
    except ValueError:
        return None


def _frame_time_ms(ds: _Elements) -> float | None:
    """Frame Time, else the mean positive Frame Time Vector increment, else a frame rate."""
    for keyword in ("FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate"):
        positive = [v for v in ds.numbers(keyword) if v > 0]
        if positive:
            mean = sum(positive) / len(positive)
            return mean if keyword.startswith("FrameTime") else 1000.0 / mean
    return None


def _has_regions(ds: _Elements) -> bool:
    """Whether a non-empty Sequence of Ultrasound Regions is present (without parsing it)."""
    element = ds.get("SequenceOfUltrasoundRegions")
    if isinstance(element, RawDataElement):
        return element.length != 0
    return element is not None and bool(element.value)
