"""Still pictures of a cine loop: thumbnails for lists, full-size key frames for teaching points.

Each takes ONE decoded frame (uint8 greyscale (rows, columns) or RGB (rows, columns, 3)), so a
thumbnail never needs the whole loop. An RGB frame whose channels all agree (most ultrasound) is
stored as a greyscale PNG: the same pixels, a third of the size. Files are written under a
temporary name and renamed, so a reader sees the old picture or the new one, never half of one.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

THUMBNAIL_SIZE = 256
# zlib level 1: a 256-pixel thumbnail of a speckled frame encodes in ~5 ms instead of ~25 ms at
# the default 6, for files ~15% larger. Key frames are written once and kept, so they use 6.
FAST_PNG_LEVEL = 1
KEY_FRAME_PNG_LEVEL = 6


def png_bytes(frame: NDArray[np.uint8], max_size: int | None = None) -> bytes:
    """PNG bytes of ``frame`` for display, shrunk to fit ``max_size`` pixels when given."""
    image = _image(frame)
    if max_size is not None:
        image = _fit(image, max_size)
    return _encode(image, FAST_PNG_LEVEL)


def thumbnail_png(frame: NDArray[np.uint8], out: Path, *, max_size: int = THUMBNAIL_SIZE) -> Path:
    """Write a PNG of ``frame`` whose longer side is at most ``max_size``, aspect kept."""
    return _write_atomically(png_bytes(frame, max_size), out)


def frame_png(frame: NDArray[np.uint8], out: Path) -> Path:
    """Write ``frame`` at full size as a PNG key frame."""
    return _write_atomically(_encode(_image(frame), KEY_FRAME_PNG_LEVEL), out)


def thumbnail_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(width, height) fitting inside ``max_size`` with the aspect kept; never enlarged."""
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    longer = max(width, height)
    if longer <= max_size:
        return width, height
    return max(1, round(width * max_size / longer)), max(1, round(height * max_size / longer))


def _image(frame: NDArray[np.uint8]) -> Image.Image:
    if frame.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, not {frame.dtype}")
    if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
        raise ValueError(f"frames must be (rows, columns) or (rows, columns, 3), not {frame.shape}")
    if frame.ndim == 3 and _channels_agree(frame):
        frame = frame[..., 0]  # grey shown as RGB: lossless as "L", a third of the work and size
    return Image.fromarray(frame)


def _channels_agree(frame: NDArray[np.uint8]) -> bool:
    red, green, blue = frame[..., 0], frame[..., 1], frame[..., 2]
    return bool(np.array_equal(red, green) and np.array_equal(green, blue))


def _fit(image: Image.Image, max_size: int) -> Image.Image:
    size = thumbnail_size(image.width, image.height, max_size)
    if size == image.size:
        return image
    # Box-filter reduce by the whole factor first (cheap, no aliasing), then bilinear for the rest.
    factor = min(image.width // size[0], image.height // size[1])
    if factor >= 2:
        image = image.reduce(factor)
    return image.resize(size, Image.Resampling.BILINEAR)


def _encode(image: Image.Image, compress_level: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def _write_atomically(data: bytes, out: Path) -> Path:
    temporary = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
        temporary.replace(out)  # os.replace: atomic on one file system
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return out
