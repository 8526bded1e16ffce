"""Cine loops as browser-playable H.264 MP4, and trainees' own video clips read back as frames.

``encode_mp4`` streams frames into H.264 High, yuv420p, ``moov`` before ``mdat``, each frame
presented at its own timestamp on a 1/90000 s clock, so variable timing survives. B-frames are off:
with them the MP4 muxer takes sample durations from decode order and the track ends early or late.
``probe_video`` and ``iter_video_frames`` read MP4, AVI, MOV and the like one frame at a time.

Encoder licence: PyAV's code is BSD-3-Clause, but its binary wheels bundle an FFmpeg linked against
x264 and x265, which are GPL-2.0-or-later (the build omits --enable-gpl, so FFmpeg calls itself
"LGPL version 3 or later"; the linked x264 makes the bundle GPL-3.0-or-later all the same). QA
Meeting stays Apache-2.0: it ships no FFmpeg code, only calls PyAV, and installing or running it is
not redistribution. Whoever redistributes the binaries (a Docker image, an installer, a wheelhouse)
must honour the GPL for that bundle: keep the notices, offer the FFmpeg and x264 source, and ship
the combination under GPL-3.0 (Apache-2.0 code may join GPL-3.0, not GPL-2.0-only). Or they swap to
a PyAV built on an LGPL FFmpeg with Cisco's libopenh264 (BSD-2-Clause; Cisco's own binaries carry
an H.264 patent licence): the stock wheels lack it, and ``_h264_stream`` would then set a bit rate
instead of x264's ``crf`` and ``preset``.
"""

from __future__ import annotations

import secrets
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain, pairwise
from math import isfinite
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer, OutputContainer
from av.packet import Packet
from av.video.stream import VideoStream
from numpy.typing import NDArray

from qa_meeting.errors import QaMeetingError

TIME_BASE = Fraction(1, 90_000)  # the MPEG clock: whole ticks for 25, 30 and 29.97 fps alike
TICKS_PER_MS = 90
MAX_PIXELS = 8192 * 8192
MAX_FRAMES = 100_000
SINGLE_FRAME_MS = 1000.0  # how long a one-frame "loop" is shown: there is no interval to copy
FASTSTART = {"movflags": "+faststart"}  # the index first: playback starts before the download ends
UNREADABLE_REMEDY = "Export it again as MP4 (H.264) or AVI, or send the DICOM from the scanner."
TIMING_REMEDY = (
    "Check the loop's frame timing (Frame Time or Frame Time Vector); export it again from the "
    "scanner if it looks wrong."
)
# sws turns RGB into YUV with the BT.601 matrix in limited range; say so in the stream.
_BT601_MATRIX = 6  # AVCOL_SPC_SMPTE170M
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG

Frame = NDArray[np.uint8]


class VideoError(QaMeetingError):
    """A cine loop cannot be encoded, or a video file cannot be read."""

    default_remedy = UNREADABLE_REMEDY


@dataclass(frozen=True, slots=True)
class EncodeReport:
    """What ``encode_mp4`` wrote: sizes are the encoded (even) ones."""

    frames: int
    duration_s: float
    frames_per_second: float
    width: int
    height: int
    encode_s: float
    bytes: int


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """The first video track of a file, as its container describes it."""

    width: int
    height: int
    frames: int
    duration_s: float
    frames_per_second: float
    codec: str


def encode_mp4(
    frames: Iterable[Frame],
    timestamps_ms: Sequence[float],
    out: Path,
    *,
    crf: int = 20,
    preset: str = "veryfast",
) -> EncodeReport:
    """Encode uint8 greyscale (rows, columns) or RGB (rows, columns, 3) frames to an H.264 MP4.

    Frames are taken one at a time and never held together. Frame i is shown at
    ``timestamps_ms[i] - timestamps_ms[0]``; the last frame lasts as long as the interval before
    it. Odd sizes are padded by one pixel (edge copied), never scaled. ``out`` appears only when
    the whole loop is written. Raises ``VideoError`` for no frames, a frame count that differs
    from the timestamp count, or timestamps that do not increase.
    """
    started = time.perf_counter()
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise VideoError("The cine loop has no frames to encode.", TIMING_REMEDY)
    ticks, durations = _timing(timestamps_ms)
    shape = _check_first_frame(first)
    height, width = (side + side % 2 for side in shape[:2])
    padded = (
        None if shape[:2] == (height, width) else np.empty((height, width, *shape[2:]), np.uint8)
    )
    count = 0
    with (
        _replacing(out) as temporary,
        av.open(str(temporary), "w", format="mp4", container_options=FASTSTART) as container,
    ):
        stream = _h264_stream(container, width, height, crf, preset, ticks, durations)
        for array in chain([first], iterator):
            if count == len(ticks):
                raise _count_mismatch(f"more than {count}", count)
            frame = _video_frame(array, shape, padded)
            frame.pts, frame.time_base = ticks[count], TIME_BASE
            _mux(container, stream.encode(frame), ticks, durations)
            count += 1
        if count != len(ticks):
            raise _count_mismatch(str(count), len(ticks))
        _mux(container, stream.encode(None), ticks, durations)
    duration_s = (ticks[-1] + durations[-1]) / TIME_BASE.denominator
    return EncodeReport(
        frames=count,
        duration_s=duration_s,
        frames_per_second=count / duration_s,
        width=width,
        height=height,
        encode_s=time.perf_counter() - started,
        bytes=out.stat().st_size,
    )


def probe_video(path: Path) -> VideoInfo:
    """Describe the first video track of ``path``; frames are counted when the file does not say.

    Raises ``VideoError`` when the file cannot be read, has no video, or is absurdly large.
    """
    with _reading(path) as container:
        stream = _video_stream(container, path)
        frames = stream.frames or _count_frames(container, stream, path)
        rate = stream.average_rate or stream.guessed_rate
        if stream.duration and stream.time_base:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration:
            duration_s = container.duration / av.time_base
        else:
            duration_s = frames / float(rate) if rate else 0.0
        if not rate and duration_s:
            rate = Fraction(frames) / Fraction(duration_s)
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frames=frames,
            duration_s=duration_s,
            frames_per_second=float(rate) if rate else 0.0,
            codec=stream.codec_context.name,
        )


def iter_video_frames(path: Path) -> Iterator[tuple[Frame, float]]:
    """Yield (RGB uint8 frame, milliseconds since the first frame) from the first video track.

    Decodes one frame at a time; times come from the container's presentation timestamps.
    """
    with _reading(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        origin_s: float | None = None
        for index, frame in enumerate(container.decode(stream)):
            if index == MAX_FRAMES:
                raise _too_large(path, f"more than {MAX_FRAMES} frames")
            if frame.time is not None:
                origin_s = frame.time if origin_s is None else origin_s
                time_ms = (frame.time - origin_s) * 1000
            elif rate:
                time_ms = float(index / rate * 1000)
            else:
                raise VideoError(f"This video has no frame timing ({path.name}).")
            yield np.asarray(frame.to_ndarray(format="rgb24"), np.uint8), time_ms


def _timing(timestamps_ms: Sequence[float]) -> tuple[list[int], list[int]]:
    """Each frame's start and duration in ``TIME_BASE`` ticks from the first frame."""
    if len(timestamps_ms) > MAX_FRAMES:
        raise VideoError(f"The cine loop has more than {MAX_FRAMES} frames.", TIMING_REMEDY)
    values = [float(value) for value in timestamps_ms]
    if not values:
        raise VideoError("The cine loop has frames but no timestamps.", TIMING_REMEDY)
    if not all(isfinite(value) for value in values):
        raise VideoError("The cine loop has a frame timestamp that is not a number.", TIMING_REMEDY)
    ticks = [round((value - values[0]) * TICKS_PER_MS) for value in values]
    durations = [after - before for before, after in pairwise(ticks)]
    for index, duration in enumerate(durations):
        if duration <= 0:
            raise VideoError(
                f"Frame timestamps must increase: frame {index + 2} at {values[index + 1]:g} ms "
                f"follows frame {index + 1} at {values[index]:g} ms.",
                TIMING_REMEDY,
            )
    durations.append(durations[-1] if durations else round(SINGLE_FRAME_MS * TICKS_PER_MS))
    return ticks, durations


def _count_mismatch(frames: str, timestamps: int) -> VideoError:
    return VideoError(
        f"The cine loop has {frames} frames but {timestamps} timestamps.", TIMING_REMEDY
    )


def _check_first_frame(array: Frame) -> tuple[int, ...]:
    if array.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, not {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"frames must be (rows, columns) or (rows, columns, 3), not {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise VideoError(
            f"The cine loop's frames are too large ({array.shape[1]}x{array.shape[0]})."
        )
    return tuple(array.shape)


def _video_frame(
    array: Frame, shape: tuple[int, ...], padded: NDArray[np.uint8] | None
) -> av.VideoFrame:
    if array.shape != shape or array.dtype != np.uint8:
        raise ValueError(f"every frame must be uint8 {shape}, not {array.dtype} {array.shape}")
    if padded is not None:
        rows, columns = shape[:2]
        padded[:rows, :columns] = array
        padded[rows:, :columns] = array[-1:]
        padded[:, columns:] = padded[:, columns - 1 : columns]
        array = padded
    # Wrap, do not copy: from_ndarray copies each frame twice (tobytes, then into the plane). Safe
    # to reuse the buffer once encode() returns: it converts to a new yuv420p frame for x264.
    array = np.ascontiguousarray(array)
    return av.VideoFrame.from_numpy_buffer(array, format="gray" if array.ndim == 2 else "rgb24")


def _h264_stream(
    container: OutputContainer,
    width: int,
    height: int,
    crf: int,
    preset: str,
    ticks: Sequence[int],
    durations: Sequence[int],
) -> VideoStream:
    mean_rate = Fraction(len(ticks) * TIME_BASE.denominator, ticks[-1] + durations[-1])
    options = {"crf": str(crf), "preset": preset, "profile": "high", "bf": "0"}
    stream = container.add_stream("libx264", mean_rate.limit_denominator(1001), options)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = stream.codec_context.time_base = TIME_BASE
    stream.codec_context.colorspace = _BT601_MATRIX
    stream.codec_context.color_range = _LIMITED_RANGE
    stream.thread_type = "AUTO"
    stream.thread_count = 0  # one per core, for x264 and for the RGB to YUV conversion
    return stream


def _mux(
    container: OutputContainer,
    packets: Iterable[Packet[VideoStream]],
    ticks: Sequence[int],
    durations: Sequence[int],
) -> None:
    """Mux packets, each lasting until the next frame starts (the MP4 keeps it per sample)."""
    for packet in packets:
        if packet.pts is not None:
            packet.duration = durations[bisect_left(ticks, packet.pts)]
        container.mux(packet)


@contextmanager
def _replacing(out: Path) -> Iterator[Path]:
    """A temporary name beside ``out``, renamed onto it on success and removed on failure."""
    temporary = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    try:
        yield temporary
        temporary.replace(out)  # os.replace: atomic on one file system
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def _reading(path: Path) -> Iterator[InputContainer]:
    """Open ``path`` for reading; any FFmpeg failure, then or later, becomes a ``VideoError``."""
    try:
        with av.open(str(path), "r", metadata_errors="replace") as container:
            yield container
    except av.FFmpegError as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise VideoError(f"This video could not be read ({path.name}: {reason}).") from error


def _video_stream(container: InputContainer, path: Path) -> VideoStream:
    if not container.streams.video:
        raise VideoError(f"This file has no video track ({path.name}).")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise VideoError(f"This video could not be read ({path.name}: no frame size).")
    if width * height > MAX_PIXELS:
        raise _too_large(path, f"{width}x{height} pixels")
    if stream.frames > MAX_FRAMES:
        raise _too_large(path, f"{stream.frames} frames")
    return stream


def _count_frames(container: InputContainer, stream: VideoStream, path: Path) -> int:
    count = 0
    for packet in container.demux(stream):
        if packet.size:
            count += 1
            if count > MAX_FRAMES:
                raise _too_large(path, f"more than {MAX_FRAMES} frames")
    return count


def _too_large(path: Path, what: str) -> VideoError:
    return VideoError(
        f"This video is too large to review ({path.name}: {what}).",
        "Export a shorter clip at the scanner's own resolution, or send the DICOM.",
    )
