"""Thumbnails and key frames: size, aspect, modes, lossless round trip, atomic writes, speed."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qa_meeting.imaging.stills import frame_png, png_bytes, thumbnail_png, thumbnail_size


def speckled(rows: int = 600, columns: int = 800, *, grey: bool = False) -> np.ndarray:
    """A frame with a gradient and ultrasound-like speckle, hard for PNG to compress."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:rows, 0:columns]
    base = np.stack([x * 200 // columns, y * 200 // rows, np.full_like(x, 40)], axis=-1)
    frame = (base + rng.integers(0, 40, base.shape)).astype(np.uint8)
    return frame[..., 0].copy() if grey else frame


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("width", "height", "max_size", "expected"),
    [
        (800, 600, 256, (256, 192)),
        (600, 800, 256, (192, 256)),
        (640, 480, 100, (100, 75)),
        (120, 100, 256, (120, 100)),  # never enlarged
        (4000, 10, 256, (256, 1)),  # never squashed to nothing
        (256, 256, 256, (256, 256)),
    ],
)
def test_thumbnail_size_keeps_aspect(
    width: int, height: int, max_size: int, expected: tuple[int, int]
) -> None:
    assert thumbnail_size(width, height, max_size) == expected


@pytest.mark.parametrize(("grey", "mode"), [(False, "RGB"), (True, "L")])
def test_thumbnail_png_fits_and_keeps_the_picture(tmp_path: Path, grey: bool, mode: str) -> None:
    frame = speckled(grey=grey)
    out = thumbnail_png(frame, tmp_path / "thumb.png")

    assert out == tmp_path / "thumb.png"
    with Image.open(out) as image:
        assert (image.size, image.mode) == ((256, 192), mode)
        shrunk = np.asarray(image, dtype=float)
    assert abs(shrunk.mean() - frame.mean()) < 2
    # Still a left-to-right gradient: it was shrunk, not cropped.
    red = shrunk if grey else shrunk[..., 0]
    assert red[:, -10:].mean() > red[:, :10].mean() + 100


def test_thumbnail_of_a_portrait_frame(tmp_path: Path) -> None:
    out = thumbnail_png(speckled(800, 600), tmp_path / "tall.png", max_size=128)
    with Image.open(out) as image:
        assert image.size == (96, 128)


@pytest.mark.parametrize("grey", [False, True])
def test_png_bytes_round_trip_is_lossless(grey: bool) -> None:
    frame = speckled(120, 160, grey=grey)
    assert np.array_equal(np.asarray(opened(png_bytes(frame))), frame)


def test_grey_shown_as_rgb_is_stored_as_grey_without_loss(tmp_path: Path) -> None:
    grey = speckled(60, 80, grey=True)
    as_rgb = np.repeat(grey[..., None], 3, axis=2)
    image = opened(png_bytes(as_rgb))
    assert image.mode == "L"
    assert np.array_equal(np.asarray(image.convert("RGB")), as_rgb)
    with Image.open(thumbnail_png(as_rgb, tmp_path / "t.png", max_size=40)) as thumb:
        assert (thumb.mode, thumb.size) == ("L", (40, 30))


def test_png_bytes_can_shrink() -> None:
    assert opened(png_bytes(speckled(), max_size=64)).size == (64, 48)


def test_frame_png_is_full_size_and_lossless(tmp_path: Path) -> None:
    frame = speckled(75, 101)
    out = frame_png(frame, tmp_path / "key.png")
    with Image.open(out) as image:
        assert np.array_equal(np.asarray(image), frame)


def test_writes_replace_the_old_file_and_leave_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "thumb.png"
    out.write_bytes(b"old")
    thumbnail_png(speckled(60, 80), out)
    assert out.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["thumb.png"]


def test_a_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    blocker = tmp_path / "key.png"
    blocker.mkdir()  # renaming a file onto a folder fails
    with pytest.raises(OSError):
        frame_png(speckled(20, 20), blocker)
    assert [p.name for p in tmp_path.iterdir()] == ["key.png"]
    assert blocker.is_dir()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (np.zeros((8, 8), np.float64), TypeError),
        (np.zeros((8, 8, 4), np.uint8), ValueError),
        (np.zeros((8,), np.uint8), ValueError),
    ],
)
def test_wrong_arrays_are_bugs(frame: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        png_bytes(frame)


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size"):
        png_bytes(speckled(8, 8), max_size=0)


def test_thumbnail_is_quick(tmp_path: Path) -> None:
    """Aim is 10 ms for 600x800; the bound is loose so a busy CI machine does not flake."""
    frame = speckled()
    timings = []
    for index in range(7):
        started = time.perf_counter()
        thumbnail_png(frame, tmp_path / f"t{index}.png")
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[3] < 0.05
