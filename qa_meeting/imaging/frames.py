"""Decode cine loops one frame at a time into display-ready RGB.

Every entry point first vets the header with ``dicom_io.read_header`` (sizes, completeness,
allocation bombs) before any pixel buffer exists. Frames are then read from the file one by one:
native pixel data through pydicom's decoder reading only that frame's bytes, encapsulated data
frame by frame with ``pydicom.encaps``. JPEG Baseline/Extended 8-bit frames go straight to
Pillow (libjpeg turns YBR into RGB itself), about ten times faster than pydicom's path with a
fraction of its memory; every other syntax uses pydicom's decoders and their plugins.
Deflated files are inflated into a temporary file first, up to the decoded-size limit.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import encapsulate, generate_frames, get_frame
from pydicom.pixels.decoders.base import Decoder, get_decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import (
    UID,
    JPEG2000TransferSyntaxes,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from qa_meeting.domain.cine import CineInfo
from qa_meeting.domain.scans import DicomHeader
from qa_meeting.errors import NotFoundError
from qa_meeting.imaging.colour import (
    GREY,
    RGB,
    YBR,
    CineDecodeError,
    Frame,
    display_mapping,
    to_display_rgb,
)
from qa_meeting.imaging.deflated import inflated_copy
from qa_meeting.imaging.dicom_io import (
    DEFER_SIZE,
    DEFLATED_TRANSFER_SYNTAX,
    DicomRejectedError,
    read_header,
)
from qa_meeting.imaging.timing import frame_timing, ultrasound_regions

__all__ = ["CineDecodeError", "iter_rgb_frames", "open_cine", "read_frame"]

# Same default as the max_decoded_mb setting; callers pass the site's value.
DEFAULT_MAX_DECODED_BYTES = 4096 * 2**20
# Ingest applies the site's frame limit; frames stream here, so this only bounds the header.
MAX_FRAMES = 100_000
_CHUNK = 2**20
_DECODE_THREADS = 2
_AHEAD = 4  # frames decoded ahead of the caller (each 600x800 RGB frame is 1.4 MB)
_LONG_LENGTH_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC"})
_LONG_LENGTH_VRS |= {b"UN", b"UR", b"UT", b"UV"}
_JPEG_SOF = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), 0xCD, 0xCE})
_JPEG_SOF |= {0xCF, 0xF7}  # 0xF7: JPEG-LS
_J2K_SIZ = b"\xff\x4f\xff\x51"
_JPEG_FAMILY = frozenset(JPEGTransferSyntaxes + JPEGLSTransferSyntaxes)
# pydicom tries plugins in its own order; pylibjpeg-rle decodes RLE about 3x faster than numpy.
_PREFERRED_PLUGINS = {RLELossless: "pylibjpeg"}


@dataclass(frozen=True)
class _Cine:
    """An open, vetted file: its header, and where its pixel data value starts."""

    header: DicomHeader
    ds: Any
    fp: BinaryIO
    decoder: Decoder
    pixel_offset: int
    options: dict[str, Any]

    @property
    def plugin(self) -> str:
        """The decoding plugin to use for encapsulated frames ("" lets pydicom choose)."""
        preferred = _PREFERRED_PLUGINS.get(self.decoder.UID, "")
        return preferred if preferred in self.decoder.available_plugins else ""

    @property
    def pillow_jpeg(self) -> bool:
        """8-bit JPEG in YBR or grey: the frames Pillow decodes as DICOM means them."""
        header = self.header
        return (
            header.transfer_syntax_uid in (JPEGBaseline8Bit, JPEGExtended12Bit)
            and header.bits_allocated == 8
            and header.photometric_interpretation
            in (YBR if header.samples_per_pixel == 3 else GREY)
        )


def open_cine(path: Path, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> CineInfo:
    """What ``path`` holds, from its header only: no pixel is decoded.

    Raises ``DicomRejectedError`` for files that are not a complete, plausible ultrasound image
    and ``CineDecodeError`` when this installation cannot decode its encoding.
    """
    with _opened(path, max_decoded_bytes) as cine:
        header = cine.header
        timing = frame_timing(cine.ds, header.number_of_frames)
        return CineInfo(
            rows=header.rows,
            columns=header.columns,
            number_of_frames=header.number_of_frames,
            samples_per_pixel=header.samples_per_pixel,
            bits_allocated=header.bits_allocated,
            photometric_interpretation=header.photometric_interpretation,
            transfer_syntax_uid=header.transfer_syntax_uid,
            transfer_syntax_name=UID(header.transfer_syntax_uid).name,
            timestamps_ms=timing.timestamps_ms,
            frame_rate_source=timing.source,
            duration_ms=timing.duration_ms,
            frames_per_second=timing.frames_per_second,
            variable_timing=timing.variable,
            regions=ultrasound_regions(cine.ds),
        )


def iter_rgb_frames(
    path: Path,
    *,
    start: int = 0,
    stop: int | None = None,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> Iterator[RGB]:
    """Yield frames ``start`` to ``stop`` (exclusive) as C-contiguous (rows, columns, 3) uint8.

    One frame is decoded at a time, so memory stays at a few frames whatever the loop's length.
    The arrays are read-only (copy one to draw on it). The header is vetted when iteration
    starts, so refusals are raised by the first ``next()``.
    """
    with _opened(path, max_decoded_bytes) as cine:
        frames = cine.header.number_of_frames
        indices = range(max(start, 0), frames if stop is None else min(stop, frames))
        mapping = display_mapping(cine.ds)
        decoded = _decoded(cine, indices)
        for index in indices:
            try:
                frame, photometric = next(decoded)
            except (CineDecodeError, DicomRejectedError):
                raise
            except Exception as exc:  # decoders raise many types on damaged data
                raise CineDecodeError(
                    f"Frame {index + 1} of {frames} of this loop is damaged and cannot be decoded."
                ) from exc
            rgb = to_display_rgb(frame, photometric, mapping)
            rgb.flags.writeable = False  # the same contract whichever decoder made it
            yield rgb


def read_frame(
    path: Path, index: int, *, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES
) -> RGB:
    """Frame ``index`` alone as (rows, columns, 3) uint8, for thumbnails and key frames."""
    for frame in iter_rgb_frames(
        path, start=index, stop=index + 1, max_decoded_bytes=max_decoded_bytes
    ):
        return frame
    raise NotFoundError(f"This loop has no frame number {index + 1}.")


@contextmanager
def _opened(path: Path, max_decoded_bytes: int) -> Iterator[_Cine]:
    with inflated_copy(path, max_decoded_bytes) as plain:
        header = read_header(plain, max_frames=MAX_FRAMES, max_decoded_bytes=max_decoded_bytes)
        decoder = _decoder(UID(header.transfer_syntax_uid))
        if plain != path:  # report the file's own encoding, not the temporary copy's
            header = replace(header, transfer_syntax_uid=DEFLATED_TRANSFER_SYNTAX)
        with plain.open("rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE)
            pixel_offset, pixel_vr = _pixel_value(fp, ds)
            options = as_pixel_options(ds, transfer_syntax_uid=decoder.UID, pixel_vr=pixel_vr)
            options["pixel_keyword"] = "PixelData"
            yield _Cine(header, ds, fp, decoder, pixel_offset, options)


def _decoder(transfer_syntax: UID) -> Decoder:
    try:
        decoder: Decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        raise CineDecodeError(
            f"This loop is encoded as {transfer_syntax.name}, which this app cannot decode."
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
        raise CineDecodeError(
            f"This loop is encoded as {transfer_syntax.name} and the decoder for it is not "
            "installed on this server.",
            f"Ask an administrator to install the imaging extras ({missing}) and restart the app.",
        )
    return decoder


def _pixel_value(fp: BinaryIO, ds: Any) -> tuple[int, str | None]:
    """Offset of the Pixel Data value right after the header, and its VR (None if implicit)."""
    start = fp.tell()
    head = fp.read(12)
    if ds.original_encoding[0]:  # implicit VR
        return start + 8, None
    vr = head[4:6].decode("ascii", "replace")
    return start + (12 if head[4:6] in _LONG_LENGTH_VRS else 8), vr


def _decoded(cine: _Cine, indices: range) -> Iterator[tuple[Frame, str]]:
    """Each frame as decoded, with the photometric interpretation it is now in."""
    if not cine.decoder.is_encapsulated:
        # pydicom reads just this frame's bytes from the file. One call per frame: a runner
        # reused across frames of native YBR_FULL_422 computes the later frames' offsets wrongly.
        for index in indices:
            cine.fp.seek(cine.pixel_offset)
            array, properties = cine.decoder.as_array(
                cine.fp, index=index, raw=True, **cine.options
            )
            yield array, str(properties["photometric_interpretation"])
        return
    cine.fp.seek(cine.pixel_offset)
    checked = _checked(cine, indices)
    if cine.pillow_jpeg and len(indices) > 2:
        yield from _pillow_jpeg_ahead(cine, checked)
        return
    for data in checked:
        yield _or_pydicom(cine, _pillow_jpeg(data, cine.header) if cine.pillow_jpeg else None, data)


def _checked(cine: _Cine, indices: range) -> Iterator[bytes]:
    for index, data in zip(indices, _encoded(cine, indices), strict=False):
        _check_codestream(data, cine.header, index)
        yield data


def _pillow_jpeg_ahead(cine: _Cine, frames: Iterator[bytes]) -> Iterator[tuple[Frame, str]]:
    """Pillow JPEG decoding a few frames ahead on worker threads, in order.

    Pillow releases the interpreter lock while it decodes, so on two cores the next frame is
    decoded while the caller converts or encodes this one. At most ``_AHEAD`` frames wait, so
    memory stays a few frames whatever the loop's length.
    """
    pending: deque[Future[tuple[Frame, str] | None]] = deque()
    held: deque[bytes] = deque()
    with ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
        for data in frames:
            pending.append(pool.submit(_pillow_jpeg, data, cine.header))
            held.append(data)
            if len(pending) >= _AHEAD:
                yield _or_pydicom(cine, pending.popleft().result(), held.popleft())
        while pending:
            yield _or_pydicom(cine, pending.popleft().result(), held.popleft())


def _or_pydicom(cine: _Cine, decoded: tuple[Frame, str] | None, data: bytes) -> tuple[Frame, str]:
    if decoded is not None:
        return decoded
    options = {**cine.options, "number_of_frames": 1}
    options.pop("extended_offsets", None)
    array, properties = cine.decoder.as_array(
        encapsulate([data]), raw=True, decoding_plugin=cine.plugin, **options
    )
    return array, str(properties["photometric_interpretation"])


def _encoded(cine: _Cine, indices: range) -> Iterator[bytes]:
    """The compressed bytes of each frame in ``indices``, read from the file one at a time."""
    frames = cine.header.number_of_frames
    offsets = cine.options.get("extended_offsets")
    if len(indices) == 1:  # get_frame seeks with the offset tables when the file has them
        yield get_frame(cine.fp, indices[0], number_of_frames=frames, extended_offsets=offsets)
        return
    found = generate_frames(cine.fp, number_of_frames=frames, extended_offsets=offsets)
    for index, data in enumerate(found):
        if index >= indices.start:
            yield data
        if index + 1 >= indices.stop:
            return
    raise CineDecodeError(
        f"This loop holds fewer frames than the {frames} its header declares: it is damaged."
    )


def _pillow_jpeg(data: bytes, header: DicomHeader) -> tuple[Frame, str] | None:
    """Decode an 8-bit JPEG frame with Pillow; None when its colour needs pydicom's rules."""
    image = Image.open(BytesIO(data), formats=("JPEG",))
    expected_mode = "RGB" if header.samples_per_pixel == 3 else "L"
    if image.size != (header.columns, header.rows) or image.mode != expected_mode:
        return None
    if image.info.get("adobe_transform") == 0 and expected_mode == "RGB":
        return None  # "not transformed" contradicts YBR: let pydicom follow the DICOM header
    photometric = "RGB" if expected_mode == "RGB" else header.photometric_interpretation
    # frombuffer(tobytes()) costs a fraction of np.array(image), which copies twice more
    pixels = np.frombuffer(image.tobytes(), dtype=np.uint8)
    shape = (header.rows, header.columns, 3) if expected_mode == "RGB" else image.size[::-1]
    return pixels.reshape(shape), photometric


def _check_codestream(data: bytes, header: DicomHeader, index: int) -> None:
    """Refuse a compressed frame claiming more pixels than the header (an allocation bomb)."""
    size = _codestream_size(data, header.transfer_syntax_uid)
    if size is not None and size[0] * size[1] > header.rows * header.columns:
        raise CineDecodeError(
            f"Frame {index + 1} of this loop claims {size[0]} x {size[1]} pixels, more than the "
            f"{header.rows} x {header.columns} its header declares: the file is damaged."
        )


def _codestream_size(data: bytes, transfer_syntax: str) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG/JPEG-LS SOF or JPEG 2000 SIZ marker, if one is found."""
    if transfer_syntax in JPEG2000TransferSyntaxes:
        siz = data.find(_J2K_SIZ, 0, 512)  # a JP2 wrapper may come first
        if siz < 0 or len(data) < siz + 24:
            return None
        x, y, x_offset, y_offset = struct.unpack(">IIII", data[siz + 8 : siz + 24])
        return y - y_offset, x - x_offset
    if transfer_syntax not in _JPEG_FAMILY or data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 9 <= len(data) and data[position] == 0xFF:
        if data[position + 1] in _JPEG_SOF:
            rows, columns = struct.unpack(">HH", data[position + 5 : position + 9])
            return rows, columns
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return None
