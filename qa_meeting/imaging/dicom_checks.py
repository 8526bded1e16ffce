"""The checks ``read_header`` applies to a DICOM file, and the refusal each one raises.

The checks take what the header claims (decoded by ``dicom_io``) and where the bytes are, never
the pixel content: the preamble marker, the claimed image size, the identifiers, the Pixel Data
element header, the length of native pixel data and the items of encapsulated (compressed)
pixel data. ``InflatedDataset`` gives the dataset of a Deflated file as a stream inflated on
demand and refuses to inflate past a limit, so a compression bomb costs little time and memory.
Every refusal is a ``DicomRejectedError`` with a machine ``code``. Messages never quote values
that could identify a patient.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.uid import UID

from qa_meeting.domain.scans import MAX_IMAGE_DIMENSION, PixelGeometry, RejectionCode, is_ultrasound
from qa_meeting.errors import RejectedFileError

UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA_TAG = (0x7FE0, 0x0010)
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
REEXPORT = "Export the scan again from the ultrasound machine or PACS as DICOM and retry."
RECOPY = "Copy or export the scan again and check that the transfer finished."
_LONG_LENGTH_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC"})
_LONG_LENGTH_VRS |= {b"UN", b"UR", b"UT", b"UV"}
_UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
_READ_CHUNK, _INFLATE_CHUNK = 64 * 1024, 256 * 1024  # bytes per step: compressed, inflated

# Whether the data (the file, or an inflated dataset) reaches the given offset.
Holds = Callable[[int], bool]


class DicomRejectedError(RejectedFileError):
    """A file refused at ingest, with a machine-readable ``code``."""

    def __init__(self, code: RejectionCode, message: str, remedy: str | None = None) -> None:
        super().__init__(message, remedy)
        self.code = code


def cut_short(part: str) -> DicomRejectedError:
    return DicomRejectedError(
        RejectionCode.CUT_SHORT,
        f"This DICOM file ends before its {part} is complete: it was probably cut short while "
        "being copied or downloaded.",
        RECOPY,
    )


def unreadable(detail: str) -> DicomRejectedError:
    return DicomRejectedError(
        RejectionCode.UNREADABLE_STRUCTURE,
        f"The structure of this DICOM file cannot be read: {detail}.",
        REEXPORT,
    )


def implausible(message: str, remedy: str = REEXPORT) -> DicomRejectedError:
    return DicomRejectedError(RejectionCode.IMPLAUSIBLE_SIZE, message, remedy)


def check_marker(head: bytes, size: int) -> None:
    """Refuse an empty file, or one without the 128-byte preamble and the ``DICM`` marker."""
    if size == 0:
        raise DicomRejectedError(RejectionCode.EMPTY, "This file is empty (0 bytes).", RECOPY)
    if len(head) < 132 or head[128:132] != b"DICM":
        raise DicomRejectedError(
            RejectionCode.NOT_DICOM,
            "This is not a DICOM file (no DICM marker): it may be a picture, a video, a document "
            "or a damaged copy.",
            "Export the loop from the ultrasound machine or PACS as DICOM and try again.",
        )


def check_header_complete(
    elements: Iterable[RawDataElement | DataElement], position: int, holds: Holds
) -> None:
    """Refuse a header whose last element runs past the end of the data."""
    if not holds(position):
        raise cut_short("header")
    for element in elements:
        if (
            isinstance(element, RawDataElement)
            and element.length != UNDEFINED_LENGTH
            and not holds(element.value_tell + element.length)
        ):
            raise cut_short("header")


def check_not_dicomdir(sop_class_uid: str) -> None:
    if sop_class_uid == DICOMDIR_SOP_CLASS:
        raise DicomRejectedError(
            RejectionCode.DICOMDIR,
            "This is a DICOMDIR index, not an image.",
            "Ingest the whole folder (or a zip of it): the images the index lists are in it.",
        )


def valid_uid(value: str, label: str) -> str:
    if not value or len(value) > 64 or not _UID_PATTERN.fullmatch(value):
        raise DicomRejectedError(
            RejectionCode.MISSING_UID,
            f"This file has no valid {label}, so it cannot be told apart from other images.",
            REEXPORT,
        )
    return value


def no_image(sop_class_uid: str, *, described: bool) -> DicomRejectedError:
    ending = ", although its header describes an image: it may be incomplete" if described else ""
    return DicomRejectedError(
        RejectionCode.NO_IMAGE,
        f"This DICOM file holds no image pixels (its type is {_sop_class_name(sop_class_uid)})"
        f"{ending}.",
        "Only ultrasound images and cine loops can be reviewed; export those from the study.",
    )


def check_geometry(geometry: PixelGeometry, *, max_frames: int, max_decoded_bytes: int) -> None:
    """Check the claimed image size before anything could allocate a buffer for it.

    ``geometry.frames`` is 0 when the header gives no usable number of frames.
    """
    rows, columns, frames = geometry.rows, geometry.columns, geometry.frames
    if not (0 < rows <= MAX_IMAGE_DIMENSION and 0 < columns <= MAX_IMAGE_DIMENSION):
        raise implausible(
            f"This image claims {rows or 'no'} rows x {columns or 'no'} columns of pixels; an "
            f"ultrasound image has 1 to {MAX_IMAGE_DIMENSION} of each, so the file is damaged."
        )
    if frames < 1:
        raise implausible("This file does not give a sensible number of frames.")
    if frames > max_frames:
        raise implausible(
            f"This loop has {frames} frames, more than this site's limit of {max_frames}.",
            "Trim the loop on the machine, or ask an administrator to raise QA_MEETING_MAX_FRAMES.",
        )
    if geometry.samples_per_pixel not in (1, 3, 4) or geometry.bits_allocated not in (1, 8, 16, 32):
        raise implausible("This image does not describe its pixels in a way any scanner writes.")
    if geometry.decoded_bytes() > max_decoded_bytes:
        needed_mb = -(-geometry.decoded_bytes() // 2**20)
        raise implausible(
            f"This loop would need {needed_mb} MB of memory to display, more than this site's "
            f"limit of {max_decoded_bytes // 2**20} MB.",
            "Shorten the loop on the machine, or ask an administrator to raise "
            "QA_MEETING_MAX_DECODED_MB.",
        )


def check_ultrasound(modality: str, sop_class_uid: str) -> None:
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


def _sop_class_name(sop_class_uid: str) -> str:
    name = UID(sop_class_uid).name if sop_class_uid else ""
    return name if name and name != sop_class_uid else "unknown kind of DICOM object"


@dataclass(frozen=True)
class PixelData:
    value_offset: int
    length: int  # UNDEFINED_LENGTH for encapsulated (compressed) pixel data


def locate_pixel_data(fp: BinaryIO, *, implicit: bool, little: bool) -> PixelData | None:
    """Parse the Pixel Data element header the parse stopped before, if there is one."""
    start = fp.tell()
    head = fp.read(12)
    if not head:
        return None
    if len(head) < 8:
        raise cut_short("image data")
    endian = "<" if little else ">"
    if struct.unpack(endian + "HH", head[:4]) != PIXEL_DATA_TAG:
        return None  # Float Pixel Data and the like: not an ultrasound picture
    if implicit:
        return PixelData(start + 8, struct.unpack(endian + "I", head[4:8])[0])
    if head[4:6] in _LONG_LENGTH_VRS:
        if len(head) < 12:
            raise cut_short("image data")
        return PixelData(start + 12, struct.unpack(endian + "I", head[8:12])[0])
    return PixelData(start + 8, struct.unpack(endian + "H", head[6:8])[0])


def check_pixel_bytes(
    fp: BinaryIO, holds: Holds, geometry: PixelGeometry, pixel_data: PixelData, *, native: bool
) -> None:
    """Check the data holds all the pixel bytes its header promises, without reading them."""
    if pixel_data.length == UNDEFINED_LENGTH:
        _check_fragments(fp, holds, pixel_data.value_offset, 64 * geometry.frames + 10_000)
    elif not native:
        raise unreadable("its compressed image data is not split into fragments")
    elif pixel_data.length < geometry.stored_bytes() or not holds(
        pixel_data.value_offset + pixel_data.length
    ):
        raise cut_short("image data")


def _check_fragments(fp: BinaryIO, holds: Holds, offset: int, max_items: int) -> None:
    """Walk the items of encapsulated pixel data by their lengths, up to the end marker."""
    for _ in range(max_items):
        fp.seek(offset)
        head = fp.read(8)
        if len(head) < 8:
            raise cut_short("image data")
        group, element, length = struct.unpack("<HHI", head)
        if (group, element) == (0xFFFE, 0xE0DD):
            return
        if (group, element) != (0xFFFE, 0xE000) or length == UNDEFINED_LENGTH:
            raise unreadable("its compressed image data is malformed")
        offset += 8 + length
        if not holds(offset):
            raise cut_short("image data")
    raise unreadable("its compressed image data is split into implausibly many pieces")


class InflatedDataset:
    """The dataset of a Deflated file as a read-only file object, inflated as it is read.

    ``source`` is positioned where the deflated bytes start (just after the file meta); offsets
    count inflated bytes from there. At first every inflated byte is kept, so the header can be
    read again. After ``stream``, bytes are passed on once read, or once ``holds`` has been
    asked about a later offset, so the pixel data flows through in chunks: reads then only go
    forward. Inflating more than ``limit`` bytes in all is refused as a compression bomb.
    """

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._pending = b""  # compressed bytes read but not yet inflated
        self._buffer = bytearray()
        self._buffer_start = 0  # offset of the buffer's first byte
        self._position = 0
        self._limit = limit
        self._keep = True
        self._passed = 0  # after stream(): bytes before this offset are no longer needed

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence not in (os.SEEK_SET, os.SEEK_CUR):
            raise ValueError("an inflated dataset has no known end to seek from")
        self._position = max(0, offset + (self._position if whence == os.SEEK_CUR else 0))
        return self._position

    def read(self, size: int = -1) -> bytes:
        self._pass(self._position)
        end = None if size < 0 else self._position + size
        self._fill(end)
        start = self._position - self._buffer_start
        if start < 0:
            raise ValueError("these inflated bytes were passed on and are no longer kept")
        stop = len(self._buffer) if end is None else end - self._buffer_start
        data = bytes(self._buffer[start:stop])
        self._position += len(data)
        return data

    def holds(self, end: int) -> bool:
        """Whether the inflated dataset is at least ``end`` bytes long."""
        self._pass(end)
        self._fill(end)
        return self._buffer_start + len(self._buffer) >= end

    def stream(self, limit: int) -> None:
        """Pass bytes on once read from now on, and lower the limit to ``limit`` bytes."""
        self._keep = False
        self._limit = min(self._limit, limit)

    def drain(self) -> None:
        """Inflate the rest within the limit, so a bomb after the pixel data is refused too."""
        self._pass(self._limit)
        self._fill(None)

    def _pass(self, offset: int) -> None:
        if not self._keep:
            self._passed = max(self._passed, offset)

    def _fill(self, end: int | None) -> None:
        """Inflate until ``end`` bytes are available (None: until the dataset ends)."""
        while end is None or self._buffer_start + len(self._buffer) < end:
            passed = min(self._passed - self._buffer_start, len(self._buffer))
            if passed > 0:
                del self._buffer[:passed]
                self._buffer_start += passed
            chunk = self._inflate_step()
            if not chunk:
                return
            if self._buffer_start + len(self._buffer) + len(chunk) > self._limit:
                raise implausible(
                    "This compressed (deflated) DICOM file expands to more than "
                    f"{self._limit // 2**20} MB, more than the scan it describes could need, so "
                    "it was not unpacked further.",
                    "Export the scan again from the ultrasound machine or PACS, uncompressed or "
                    "as JPEG, and retry.",
                )
            self._buffer += chunk

    def _inflate_step(self) -> bytes:
        """The next inflated chunk; b"" at the end of the deflated data."""
        while not self._inflater.eof:
            if not self._pending:
                self._pending = self._source.read(_READ_CHUNK)
                if not self._pending:
                    raise cut_short("compressed data")
            try:
                chunk = self._inflater.decompress(self._pending, _INFLATE_CHUNK)
            except zlib.error:
                raise unreadable("its compressed (deflated) data is damaged") from None
            self._pending = self._inflater.unconsumed_tail
            if chunk:
                return chunk
        return b""
