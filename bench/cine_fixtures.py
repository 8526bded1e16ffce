"""Cine loops for the cine benchmarks: realistic synthetic frames and the DICOM files made of them.

Frames are the demo generator's B-mode scene at full scanner size with a colour Doppler box laid
over it, so they are true RGB (the three channels differ inside the box). Headers come from the
demo generator too (patient, UIDs, ultrasound regions); only the pixel description changes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.uid import JPEGBaseline8Bit

from qa_meeting.imaging.synthetic import CineSpec, build_dataset, render_cine

ROWS, COLUMNS = 600, 800
FRAME_TIME_MS = 33.3
JPEG_QUALITY = 90
_PIXEL_DATA_TAG = (0x7FE0, 0x0010)

Frames = NDArray[np.uint8]  # (frames, rows, columns, 3)


def ultrasound_frames(count: int, *, rows: int = ROWS, columns: int = COLUMNS) -> Frames:
    """``count`` RGB frames of an apical four-chamber loop with a moving colour Doppler box."""
    grey = render_cine(
        CineSpec(
            case_id="bench-cine", scene="cardiac_a4c", rows=rows, columns=columns, frames=count
        )
    )
    frames = np.repeat(grey[..., np.newaxis], 3, axis=3)
    top, left = rows * 3 // 8, columns * 3 // 8
    height, width = rows // 4, columns // 4
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for index in range(count):
        # A jet that swings with the frame: red towards the probe, blue away, none near zero.
        phase = 2 * np.pi * index / 30
        velocity = np.sin(x / width * 3 * np.pi + phase) * np.cos(y / height * 2 * np.pi - phase)
        box = frames[index, top : top + height, left : left + width]
        flow = np.abs(velocity) > 0.35
        strength = (np.abs(velocity) * 255).astype(np.uint8)
        towards, away = flow & (velocity > 0), flow & (velocity < 0)
        box[towards] = np.stack([strength, strength // 4, np.zeros_like(strength)], -1)[towards]
        box[away] = np.stack([np.zeros_like(strength), strength // 3, strength], -1)[away]
    return frames


def write_jpeg_cine(frames: Iterable[NDArray[np.uint8]], count: int, path: Path) -> Path:
    """A JPEG Baseline YBR_FULL_422 Ultrasound Multi-frame file, as scanners export them."""
    encoded = []
    for frame in frames:
        buffer = BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=1)
        encoded.append(buffer.getvalue())  # subsampling=1 is 4:2:2
    if len(encoded) != count:
        raise ValueError(f"{len(encoded)} frames given, {count} announced")
    ds = _header(count, "jpeg")
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    raw_size = count * ROWS * COLUMNS * 3
    ds.LossyImageCompressionRatio = f"{raw_size / sum(map(len, encoded)):.2f}"
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def write_native_cine(frames: Iterable[NDArray[np.uint8]], count: int, path: Path) -> Path:
    """An uncompressed RGB file written frame by frame: the writer never holds the pixel data.

    The header goes through pydicom; the Pixel Data element (the last one) is then appended by
    hand, its tag, VR and length first, then each frame's bytes as they come.
    """
    ds = _header(count, "native")
    length = count * ROWS * COLUMNS * 3
    with path.open("wb") as handle:
        dcmwrite(handle, ds, enforce_file_format=True)
        handle.write(struct.pack("<HH2sHI", *_PIXEL_DATA_TAG, b"OB", 0, length + length % 2))
        written = 0
        for frame in frames:
            if frame.shape != (ROWS, COLUMNS, 3) or frame.dtype != np.uint8:
                raise ValueError(f"frames must be uint8 {(ROWS, COLUMNS, 3)}, not {frame.shape}")
            handle.write(np.ascontiguousarray(frame).data)
            written += frame.nbytes
        if written != length:
            raise ValueError(f"{written} pixel bytes written, {length} announced")
        handle.write(b"\x00" * (length % 2))
    return path


def _header(count: int, name: str) -> Dataset:
    """The demo generator's header for one 600x800 frame, made an RGB loop of ``count`` frames."""
    spec = CineSpec(
        case_id=f"bench-{name}",
        scene="cardiac_a4c",
        rows=ROWS,
        columns=COLUMNS,
        frames=1,
        frame_time_ms=FRAME_TIME_MS,
    )
    ds = build_dataset(spec)
    del ds.PixelData
    ds.NumberOfFrames = count
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    return ds
