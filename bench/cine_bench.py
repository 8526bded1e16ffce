"""Cine loops: MP4 encoding, JPEG cine decoding, thumbnails and memory, each against a baseline.

Frames: the demo generator's apical four-chamber loop at 600x800 with a moving colour Doppler box
(``bench.cine_fixtures``). Ratios are speed-ups (> 1: ours is faster) except the memory row, whose
ratio is the fraction of the cine's decoded size. Times are the best of several runs.
- MP4 encoding: ``imaging.video.encode_mp4`` (PyAV) against the FFmpeg command-line tool bundled
  with imageio-ffmpeg fed the same raw RGB frames through a pipe, with the same x264 settings
  (preset veryfast, crf 20, no B-frames, High profile, yuv420p, faststart). The tool's start-up
  (~0.05 s) counts against it: it is part of what using it costs. CPU seconds (all threads; for
  the tool, its own process) are shown beside: a shared machine disturbs them less than the clock.
- JPEG decoding: ``imaging.frames.iter_rgb_frames`` against ``pydicom.dcmread(path).pixel_array``
  over the same JPEG Baseline YBR_FULL_422 file (pydicom's default plugin and colour conversion).
  Pillow decoding the same frames from memory, and nothing else, is shown as the ceiling.
- Thumbnails: ``read_frame`` + ``stills.thumbnail_png`` of the middle frame against pydicom's own
  single-frame decode (``pydicom.pixels.pixel_array(path, index=...)``) + Pillow's ``thumbnail``
  saved as PNG; and ``thumbnail_png`` alone against Pillow's ``thumbnail`` + PNG alone.
- Memory: ``services.media.render_file`` (decode, MP4, thumbnail) of a 1.0 GB uncompressed RGB
  cine, in a child process: its peak RSS above its RSS before the work (libraries loaded). The
  baseline is ``pydicom.dcmread(path).pixel_array`` of the same file, measured the same way.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from io import BytesIO
from pathlib import Path

import numpy as np
import psutil  # type: ignore[import-untyped]
import pydicom
from imageio_ffmpeg import get_ffmpeg_exe  # type: ignore[import-untyped]
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import pixel_array

from bench.cine_fixtures import (
    COLUMNS,
    FRAME_TIME_MS,
    ROWS,
    Frames,
    ultrasound_frames,
    write_jpeg_cine,
    write_native_cine,
)
from bench.common import Result, best_of
from qa_meeting.imaging.frames import iter_rgb_frames, read_frame
from qa_meeting.imaging.stills import THUMBNAIL_SIZE, thumbnail_png
from qa_meeting.imaging.video import encode_mp4
from qa_meeting.services.media import render_file
from qa_meeting.settings import load_settings

ENCODE_FRAMES = 150
DECODE_FRAMES = 90
BIG_FRAMES = 700  # 700 x 600 x 800 x 3 bytes = 1.0 GB decoded
REPEATS = 5  # the machine may be shared: the best of five is the least disturbed
THUMBNAIL_REPEATS = 20
MB = 1e6


def run() -> list[Result]:
    frames = ultrasound_frames(ENCODE_FRAMES)
    with tempfile.TemporaryDirectory(prefix="qa-meeting-cine-bench-") as tmp:
        root = Path(tmp)
        results = [_encoding(frames, root)]
        jpeg = write_jpeg_cine(frames[:DECODE_FRAMES], DECODE_FRAMES, root / "jpeg.dcm")
        results.append(_decoding(jpeg))
        results += _thumbnails(jpeg, root)
        results.append(_memory(frames, root))
    return results


def _encoding(frames: Frames, root: Path) -> Result:
    timestamps = [index * FRAME_TIME_MS for index in range(len(frames))]
    ours_path, tool_path = root / "ours.mp4", root / "ffmpeg.mp4"
    ours, tool = _Timing(), _Timing()
    for _ in range(REPEATS):  # alternate, so that both see the same machine
        with ours.timed(time.process_time):
            encode_mp4(iter(frames), timestamps, ours_path)
        with tool.timed(_children_cpu):
            _ffmpeg_tool(frames, tool_path)
    ours_fps, tool_fps = len(frames) / ours.wall, len(frames) / tool.wall
    ours_mb, tool_mb = ours_path.stat().st_size / MB, tool_path.stat().st_size / MB
    return Result(
        f"MP4 encoding, {len(frames)} RGB frames {ROWS}x{COLUMNS} (frames/s)",
        f"{ours_fps:,.0f}; {ours.cpu:.2f} CPU s; {ours_mb:.1f} MB",
        f"{tool_fps:,.0f} (ffmpeg CLI, same x264 settings, raw RGB piped); "
        f"{tool.cpu:.2f} CPU s; {tool_mb:.1f} MB",
        ours_fps / tool_fps,
        ">= 1.0x (speed-up over ffmpeg CLI)",
    )


class _Timing:
    """The best wall-clock and the best CPU time seen over several runs, in seconds."""

    def __init__(self) -> None:
        self.wall = self.cpu = float("inf")

    @contextmanager
    def timed(self, cpu_clock: Callable[[], float]) -> Iterator[None]:
        wall, cpu = time.perf_counter(), cpu_clock()
        yield
        self.cpu = min(self.cpu, cpu_clock() - cpu)
        self.wall = min(self.wall, time.perf_counter() - wall)


def _children_cpu() -> float:
    """CPU seconds of the waited-for child processes (user and system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ffmpeg_tool(frames: Frames, out: Path) -> None:
    """The FFmpeg command-line tool encoding ``frames`` as ``encode_mp4`` does."""
    command = [
        get_ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", f"{COLUMNS}x{ROWS}"),
        *("-framerate", f"{1000 / FRAME_TIME_MS:.4f}", "-i", "pipe:0"),
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-bf", "0"),
        *("-profile:v", "high", "-pix_fmt", "yuv420p", "-colorspace", "smpte170m"),
        *("-color_range", "tv", "-movflags", "+faststart", str(out)),
    ]
    with subprocess.Popen(command, stdin=subprocess.PIPE) as process:
        assert process.stdin is not None
        for frame in frames:
            process.stdin.write(frame.data)
        process.stdin.close()
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg failed with exit status {process.returncode}")


def _decoding(path: Path) -> Result:
    # The same pictures, up to rounding in the colour conversion: a like-for-like comparison.
    ours_first, theirs_first = read_frame(path, 0), pixel_array(path, index=0)
    difference = np.abs(ours_first.astype(np.int16) - theirs_first).mean()
    assert difference < 1.0, f"decoders disagree by {difference:.2f} on average"

    encoded = _encoded_frames(path)

    def ours() -> None:
        assert sum(1 for _ in iter_rgb_frames(path)) == DECODE_FRAMES

    def default_pydicom() -> None:
        assert len(pydicom.dcmread(path).pixel_array) == DECODE_FRAMES

    def bare_pillow() -> None:  # the decoder alone, frames already in memory: the ceiling
        for data in encoded:
            Image.open(BytesIO(data), formats=("JPEG",)).load()

    ours_fps = DECODE_FRAMES / best_of(REPEATS, ours)
    baseline_fps = DECODE_FRAMES / best_of(REPEATS, default_pydicom)
    ceiling_fps = DECODE_FRAMES / best_of(REPEATS, bare_pillow)
    return Result(
        f"JPEG cine decode, {DECODE_FRAMES} frames {ROWS}x{COLUMNS} YBR_FULL_422 (frames/s)",
        f"{ours_fps:,.0f} (iter_rgb_frames)",
        f"{baseline_fps:,.0f} (pydicom pixel_array); Pillow JPEG decode alone {ceiling_fps:,.0f}",
        ours_fps / baseline_fps,
        ">= 550 frames/s (ratio: speed-up)",
    )


def _encoded_frames(path: Path) -> list[bytes]:
    with path.open("rb") as handle:
        ds = pydicom.dcmread(handle)
        return list(generate_frames(ds.PixelData, number_of_frames=DECODE_FRAMES))


def _thumbnails(path: Path, root: Path) -> list[Result]:
    middle = DECODE_FRAMES // 2
    ours_png, baseline_png = root / "ours.png", root / "pillow.png"
    frame = read_frame(path, middle)

    def pillow_thumbnail(pixels: np.ndarray) -> None:
        image = Image.fromarray(pixels)
        image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        image.save(baseline_png, format="PNG")

    def ours_from_file() -> None:
        thumbnail_png(read_frame(path, middle), ours_png)

    def baseline_from_file() -> None:
        pillow_thumbnail(pixel_array(path, index=middle))

    from_file = best_of(THUMBNAIL_REPEATS, ours_from_file) * 1000
    baseline_file = best_of(THUMBNAIL_REPEATS, baseline_from_file) * 1000
    alone = best_of(THUMBNAIL_REPEATS, lambda: thumbnail_png(frame, ours_png)) * 1000
    baseline_alone = best_of(THUMBNAIL_REPEATS, lambda: pillow_thumbnail(frame)) * 1000
    return [
        Result(
            f"thumbnail from the JPEG cine, frame {middle + 1} (ms)",
            f"{from_file:.1f} (read_frame + thumbnail_png)",
            f"{baseline_file:.1f} (pydicom pixel_array(index=) + Pillow thumbnail + PNG)",
            baseline_file / from_file,
            "<= 10 ms (ratio: speed-up)",
        ),
        Result(
            f"thumbnail of a decoded {ROWS}x{COLUMNS} RGB frame (ms)",
            f"{alone:.1f} (thumbnail_png)",
            f"{baseline_alone:.1f} (Pillow thumbnail + PNG)",
            baseline_alone / alone,
            "<= 10 ms (ratio: speed-up)",
        ),
    ]


def _memory(frames: Frames, root: Path) -> Result:
    big = root / "big.dcm"
    decoded = BIG_FRAMES * ROWS * COLUMNS * 3
    try:
        write_native_cine(_ping_pong(frames, BIG_FRAMES), BIG_FRAMES, big)
        ours = _in_child("render", big, root / "render")
        baseline = _in_child("pydicom", big, root)
    finally:
        big.unlink(missing_ok=True)
    return Result(
        f"peak RSS rendering a {decoded / 1e9:.1f} GB raw RGB cine ({BIG_FRAMES} frames) to MP4",
        f"+{ours / MB:,.0f} MB ({ours / decoded:.0%} of decoded)",
        f"+{baseline / MB:,.0f} MB (pydicom pixel_array; decoded {decoded / MB:,.0f} MB)",
        ours / decoded,
        "< 0.25x of decoded size",
    )


def _ping_pong(frames: Frames, count: int) -> Iterator[np.ndarray]:
    """``count`` frames going back and forth through ``frames``, so the motion never jumps."""
    period = 2 * len(frames) - 2
    for index in range(count):
        position = index % period
        yield frames[position if position < len(frames) else period - position]


def _in_child(mode: str, source: Path, out: Path) -> int:
    """Run ``mode`` on ``source`` in a fresh interpreter; its peak RSS increase in bytes."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.cine_bench", mode, str(source), str(out)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} child failed:\n{done.stderr}")
    measured = json.loads(done.stdout.splitlines()[-1])
    if measured["frames"] != BIG_FRAMES:
        raise RuntimeError(f"the {mode} child saw {measured['frames']} frames")
    return int(measured["peak"]) - int(measured["before"])


def _child(mode: str, source: Path, out: Path) -> int:
    """In the child: do the work once and print its RSS before and at peak, as JSON."""
    gc.collect()
    before = psutil.Process().memory_info().rss
    _reset_peak_rss()
    if mode == "render":
        max_decoded_bytes = load_settings(environ={}, secrets_path=None).max_decoded_mb * 2**20
        frames = render_file(source, out, max_decoded_bytes=max_decoded_bytes).frames
    elif mode == "pydicom":
        frames = len(pydicom.dcmread(source).pixel_array)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps({"frames": frames, "before": before, "peak": _peak_rss()}))
    return 0


def _reset_peak_rss() -> None:
    """Make the kernel's high-water mark start from now (Linux 4.0+; elsewhere it stays)."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss() -> int:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
