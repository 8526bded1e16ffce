"""Read and vet DICOM headers before anything is stored or decoded.

``read_header`` parses the header only (``stop_before_pixels``, large values deferred) and then
inspects the Pixel Data element in place: its length for uncompressed files, its fragment items for
compressed ones, never its content. So a file claiming 65535 x 65535 pixels costs a few kilobytes,
not gigabytes, to refuse. Every refusal is a ``DicomRejectedError`` with a machine ``code``.
Messages never quote values that could identify a patient.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID

from qa_meeting.domain.scans import (
    MAX_IMAGE_DIMENSION,
    DicomHeader,
    PixelGeometry,
    RejectionCode,
    is_ultrasound,
)
from qa_meeting.errors import RejectedFileError

DEFER_SIZE = 4096
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAG = (0x7FE0, 0x0010)
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
DEFLATED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1.99"
UNCOMPRESSED_TRANSFER_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
)
_LONG_LENGTH_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC"})
_LONG_LENGTH_VRS |= {b"UN", b"UR", b"UT", b"UV"}
_UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
_REEXPORT = "Export the scan again from the ultrasound machine or PACS as DICOM and retry."
_RECOPY = "Copy or export the scan again and check that the transfer finished."


class DicomRejectedError(RejectedFileError):
    """A file refused at ingest, with a machine-readable ``code``."""

    def __init__(self, code: RejectionCode, message: str, remedy: str | None = None) -> None:
        super().__init__(message, remedy)
        self.code = code


@dataclass(frozen=True)
class _PixelData:
    value_offset: int
    length: int  # UNDEFINED_LENGTH for encapsulated (compressed) pixel data


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
    size = _vet_file(path)
    transfer_syntax = _transfer_syntax(path)
    with path.open("rb") as fp:
        ds = _parse(fp)
        _check_header_complete(ds, fp.tell(), size)
        pixel_data = _locate_pixel_data(fp, ds, size)
        sop_class_uid = _text(ds, "SOPClassUID") or _text(ds.file_meta, "MediaStorageSOPClassUID")
        if sop_class_uid == DICOMDIR_SOP_CLASS:
            raise DicomRejectedError(
                RejectionCode.DICOMDIR,
                "This is a DICOMDIR index, not an image.",
                "Ingest the whole folder (or a zip of it): the images the index lists are in it.",
            )
        sop_instance_uid = _uid(ds, "SOPInstanceUID", "SOP Instance UID (the image's own id)")
        study_instance_uid = _uid(ds, "StudyInstanceUID", "Study Instance UID")
        if pixel_data is None or pixel_data.length == 0:
            raise _no_image(ds, sop_class_uid)
        geometry = _geometry(ds, max_frames=max_frames, max_decoded_bytes=max_decoded_bytes)
        modality = _text(ds, "Modality")[:16]
        _check_ultrasound(modality, sop_class_uid)
        _check_pixel_bytes(fp, geometry, pixel_data, transfer_syntax, size)
        return DicomHeader(
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=sop_class_uid,
            study_instance_uid=study_instance_uid,
            series_instance_uid=_text(ds, "SeriesInstanceUID")[:64],
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
            manufacturer=_text(ds, "Manufacturer")[:200],
            model_name=_text(ds, "ManufacturerModelName")[:200],
            study_date=_study_date(ds),
            operators_name=_text(ds, "OperatorsName")[:200],
        )


def _vet_file(path: Path) -> int:
    try:
        with path.open("rb") as fp:
            head = fp.read(132)
            size = fp.seek(0, 2)
    except OSError:
        raise DicomRejectedError(
            RejectionCode.CANNOT_OPEN, "This file could not be opened.", _RECOPY
        ) from None
    if size == 0:
        raise DicomRejectedError(RejectionCode.EMPTY, "This file is empty (0 bytes).", _RECOPY)
    if len(head) < 132 or head[128:] != b"DICM":
        raise DicomRejectedError(
            RejectionCode.NOT_DICOM,
            "This is not a DICOM file (no DICM marker): it may be a picture, a video, a document "
            "or a damaged copy.",
            "Export the loop from the ultrasound machine or PACS as DICOM and try again.",
        )
    return size


def _cut_short(part: str) -> DicomRejectedError:
    return DicomRejectedError(
        RejectionCode.CUT_SHORT,
        f"This DICOM file ends before its {part} is complete: it was probably cut short while "
        "being copied or downloaded.",
        _RECOPY,
    )


def _unreadable(detail: str) -> DicomRejectedError:
    return DicomRejectedError(
        RejectionCode.UNREADABLE_STRUCTURE,
        f"The structure of this DICOM file cannot be read: {detail}.",
        _REEXPORT,
    )


def _transfer_syntax(path: Path) -> str:
    try:
        meta = read_file_meta_info(path)
    except Exception:  # pydicom raises many types on malformed input; the file is at fault
        raise _unreadable("its file header (meta information) is damaged") from None
    transfer_syntax = _text(meta, "TransferSyntaxUID")
    if not transfer_syntax:
        raise _unreadable("it does not say how it is encoded (no transfer syntax)")
    if transfer_syntax == DEFLATED_TRANSFER_SYNTAX:
        # pydicom inflates the whole dataset in memory, unbounded: a compression bomb risk.
        raise _unreadable("it uses Deflate compression, which this app does not accept")
    if not UID(transfer_syntax).is_transfer_syntax:
        raise _unreadable("it uses an encoding (transfer syntax) this app does not know")
    return transfer_syntax


def _parse(fp: BinaryIO) -> Any:
    try:
        return pydicom.dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE)
    except RecursionError:
        raise _unreadable("it nests sequences more deeply than any scanner writes") from None
    except EOFError:
        raise _cut_short("header") from None
    except Exception:  # pydicom raises many types on malformed input; the file is at fault
        raise _unreadable("its header is malformed") from None


def _check_header_complete(ds: Any, position: int, size: int) -> None:
    """Refuse a header whose last element runs past the end of the file."""
    if position > size:
        raise _cut_short("header")
    for tag in ds.keys():  # noqa: SIM118  (iterating the dataset would load deferred values)
        element = ds.get_item(tag, keep_deferred=True)
        if (
            isinstance(element, RawDataElement)
            and element.length != UNDEFINED_LENGTH
            and element.value_tell + element.length > size
        ):
            raise _cut_short("header")


def _locate_pixel_data(fp: BinaryIO, ds: Any, size: int) -> _PixelData | None:
    """Parse the Pixel Data element header the reader stopped before, if there is one."""
    start = fp.tell()
    head = fp.read(12)
    if not head:
        return None
    if len(head) < 8:
        raise _cut_short("image data")
    implicit, little = ds.original_encoding
    endian = "<" if little else ">"
    if struct.unpack(endian + "HH", head[:4]) != PIXEL_DATA_TAG:
        return None  # Float Pixel Data and the like: not an ultrasound picture
    if implicit:
        return _PixelData(start + 8, struct.unpack(endian + "I", head[4:8])[0])
    if head[4:6] in _LONG_LENGTH_VRS:
        if len(head) < 12:
            raise _cut_short("image data")
        return _PixelData(start + 12, struct.unpack(endian + "I", head[8:12])[0])
    return _PixelData(start + 8, struct.unpack(endian + "H", head[6:8])[0])


def _value(ds: Any, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except Exception:  # a malformed value reads as absent (tolerant on read)
        return None


def _is_multi(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _text(ds: Any, keyword: str) -> str:
    value = _value(ds, keyword)
    if value is None:
        return ""
    if _is_multi(value):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _numbers(ds: Any, keyword: str) -> list[float]:
    value = _value(ds, keyword)
    try:
        return [float(v) for v in (value if _is_multi(value) else [value]) if v not in (None, "")]
    except (TypeError, ValueError):
        return []


def _integer(ds: Any, keyword: str) -> int | None:
    numbers = _numbers(ds, keyword)
    return int(numbers[0]) if len(numbers) == 1 and numbers[0].is_integer() else None


def _study_date(ds: Any) -> date | None:
    raw = _text(ds, "StudyDate")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])) if len(raw) == 8 else None
    except ValueError:
        return None


def _frame_time_ms(ds: Any) -> float | None:
    """Frame Time, else the mean positive Frame Time Vector increment, else a frame rate."""
    for keyword in ("FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate"):
        positive = [v for v in _numbers(ds, keyword) if v > 0]
        if positive:
            mean = sum(positive) / len(positive)
            return mean if keyword.startswith("FrameTime") else 1000.0 / mean
    return None


def _sop_class_name(sop_class_uid: str) -> str:
    name = UID(sop_class_uid).name if sop_class_uid else ""
    return name if name and name != sop_class_uid else "unknown kind of DICOM object"


def _uid(ds: Any, keyword: str, label: str) -> str:
    value = _text(ds, keyword)
    if not value and keyword == "SOPInstanceUID":
        value = _text(ds.file_meta, "MediaStorageSOPInstanceUID")
    if not value or len(value) > 64 or not _UID_PATTERN.fullmatch(value):
        raise DicomRejectedError(
            RejectionCode.MISSING_UID,
            f"This file has no valid {label}, so it cannot be told apart from other images.",
            _REEXPORT,
        )
    return value


def _no_image(ds: Any, sop_class_uid: str) -> DicomRejectedError:
    described = _value(ds, "Rows") is not None
    ending = ", although its header describes an image: it may be incomplete" if described else ""
    kind = _sop_class_name(sop_class_uid)
    return DicomRejectedError(
        RejectionCode.NO_IMAGE,
        f"This DICOM file holds no image pixels (its type is {kind}){ending}.",
        "Only ultrasound images and cine loops can be reviewed; export those from the study.",
    )


def _has_regions(ds: Any) -> bool:
    """Whether a non-empty Sequence of Ultrasound Regions is present (without parsing it)."""
    element = ds.get_item(0x00186011, keep_deferred=True) if 0x00186011 in ds else None
    if isinstance(element, RawDataElement):
        return element.length != 0
    return element is not None and bool(element.value)


def _implausible(message: str, remedy: str = _REEXPORT) -> DicomRejectedError:
    return DicomRejectedError(RejectionCode.IMPLAUSIBLE_SIZE, message, remedy)


def _geometry(ds: Any, *, max_frames: int, max_decoded_bytes: int) -> PixelGeometry:
    """Check the claimed image size before anything could allocate a buffer for it."""
    rows, columns = _integer(ds, "Rows") or 0, _integer(ds, "Columns") or 0
    if not (0 < rows <= MAX_IMAGE_DIMENSION and 0 < columns <= MAX_IMAGE_DIMENSION):
        raise _implausible(
            f"This image claims {rows or 'no'} rows x {columns or 'no'} columns of pixels; an "
            f"ultrasound image has 1 to {MAX_IMAGE_DIMENSION} of each, so the file is damaged."
        )
    no_frame_count = _value(ds, "NumberOfFrames") in (None, "")
    frames = 1 if no_frame_count else _integer(ds, "NumberOfFrames")
    if frames is None or frames < 1:
        raise _implausible("This file does not give a sensible number of frames.")
    if frames > max_frames:
        raise _implausible(
            f"This loop has {frames} frames, more than this site's limit of {max_frames}.",
            "Trim the loop on the machine, or ask an administrator to raise QA_MEETING_MAX_FRAMES.",
        )
    samples, bits = _integer(ds, "SamplesPerPixel") or 1, _integer(ds, "BitsAllocated") or 0
    if samples not in (1, 3, 4) or bits not in (1, 8, 16, 32):
        raise _implausible("This image does not describe its pixels in a way any scanner writes.")
    photometric = _text(ds, "PhotometricInterpretation")[:20]
    geometry = PixelGeometry(rows, columns, frames, samples, bits, photometric)
    if geometry.decoded_bytes() > max_decoded_bytes:
        needed_mb = -(-geometry.decoded_bytes() // 2**20)
        raise _implausible(
            f"This loop would need {needed_mb} MB of memory to display, more than this site's "
            f"limit of {max_decoded_bytes // 2**20} MB.",
            "Shorten the loop on the machine, or ask an administrator to raise "
            "QA_MEETING_MAX_DECODED_MB.",
        )
    return geometry


def _check_ultrasound(modality: str, sop_class_uid: str) -> None:
    if is_ultrasound(modality, sop_class_uid):
        return
    if modality:
        found = f"Its modality is {modality}, not US (ultrasound)."
    else:
        found = f"It records no modality; its type is {_sop_class_name(sop_class_uid)}."
    raise DicomRejectedError(
        RejectionCode.NOT_ULTRASOUND,
        f"This is not an ultrasound image. {found}",
        "Only ultrasound scans belong in the QA meeting; pick the ultrasound files of the study.",
    )


def _check_pixel_bytes(
    fp: BinaryIO, geometry: PixelGeometry, pixel_data: _PixelData, transfer_syntax: str, size: int
) -> None:
    """Check the file holds all the pixel bytes its header promises, without reading them."""
    if pixel_data.length == UNDEFINED_LENGTH:
        _check_fragments(fp, pixel_data.value_offset, size, 64 * geometry.frames + 10_000)
    elif transfer_syntax not in UNCOMPRESSED_TRANSFER_SYNTAXES:
        raise _unreadable("its compressed image data is not split into fragments")
    elif (
        pixel_data.length < geometry.stored_bytes()
        or pixel_data.value_offset + pixel_data.length > size
    ):
        raise _cut_short("image data")


def _check_fragments(fp: BinaryIO, offset: int, size: int, max_items: int) -> None:
    """Walk the items of encapsulated pixel data by their lengths, up to the end marker."""
    for _ in range(max_items):
        fp.seek(offset)
        head = fp.read(8)
        if len(head) < 8:
            raise _cut_short("image data")
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) == (0xFFFE, 0xE0DD):
            return
        if (group, element) != (0xFFFE, 0xE000) or length == UNDEFINED_LENGTH:
            raise _unreadable("its compressed image data is malformed")
        offset += 8 + length
        if offset > size:
            raise _cut_short("image data")
    raise _unreadable("its compressed image data is split into implausibly many pieces")
