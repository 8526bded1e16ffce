"""H.264 MP4 encoding of cine loops, and reading other people's video clips back as frames."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.stream import VideoStream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa_meeting.errors import QaMeetingError
from qa_meeting.imaging import video
from qa_meeting.imaging.video import (
    UNREADABLE_REMEDY,
    VideoError,
    encode_mp4,
    iter_video_frames,
    probe_video,
)


def moving_disc(
    count: int, rows: int = 96, columns: int = 128, *, grey: bool = False
) -> Iterator[np.ndarray]:
    """Frames with a gradient background and a bright disc sliding left to right."""
    y, x = np.mgrid[0:rows, 0:columns]
    for index in range(count):
        frame = np.empty((rows, columns, 3), np.uint8)
        frame[..., 0] = x * 255 // columns
        frame[..., 1] = y * 255 // rows
        frame[..., 2] = 60
        centre = columns // 8 + index * 3 % columns
        frame[(x - centre) ** 2 + (y - rows // 2) ** 2 < (rows // 5) ** 2] = 230
        yield frame[..., 1].copy() if grey else frame


def at_rate(count: int, fps: float) -> list[float]:
    return [index * 1000 / fps for index in range(count)]


def decoded_times_ms(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = []
        for frame in container.decode(stream):
            assert frame.time is not None
            times.append(frame.time * 1000)
        return times


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        offset += size if size else len(data)
    return boxes


def write_clip(path: Path, codec: str, pix_fmt: str, count: int, fps: int, fmt: str | None = None):
    """A clip as a trainee's phone or laptop might make it, written with PyAV."""
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = 128, 96, pix_fmt
        for frame in moving_disc(count):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def test_constant_rate_gives_browser_playable_h264(tmp_path: Path) -> None:
    out = tmp_path / "loop.mp4"
    report = encode_mp4(moving_disc(50), at_rate(50, 25), out)

    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.profile in {"High", "Main"}
        assert stream.frames == 50
        assert container.duration is not None
        assert abs(container.duration / av.time_base - 2.0) <= 1 / 25
    assert decoded_times_ms(out) == pytest.approx(at_rate(50, 25), abs=1)
    assert (report.frames, report.width, report.height) == (50, 128, 96)
    assert report.duration_s == pytest.approx(2.0)
    assert report.frames_per_second == pytest.approx(25.0)
    assert report.bytes == out.stat().st_size > 0
    assert report.encode_s > 0


def test_variable_timing_is_kept_frame_by_frame(tmp_path: Path) -> None:
    intervals = np.random.default_rng(7).uniform(12.5, 80.0, size=39)
    timestamps = [1234.5, *(1234.5 + np.cumsum(intervals))]  # starts late: shown from zero
    out = tmp_path / "vfr.mp4"
    report = encode_mp4(moving_disc(40), timestamps, out)

    expected = [t - timestamps[0] for t in timestamps]
    assert decoded_times_ms(out) == pytest.approx(expected, abs=1)
    last_interval_s = (timestamps[-1] - timestamps[-2]) / 1000
    assert report.duration_s == pytest.approx(expected[-1] / 1000 + last_interval_s, abs=1e-4)
    with av.open(str(out)) as container:
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(report.duration_s, abs=1e-3)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(intervals=st.lists(st.floats(min_value=1.0, max_value=500.0), min_size=1, max_size=12))
def test_any_increasing_timing_survives(tmp_path: Path, intervals: list[float]) -> None:
    timestamps = [0.0, *np.cumsum(intervals).tolist()]
    out = tmp_path / "any.mp4"
    encode_mp4(moving_disc(len(timestamps), 32, 32), timestamps, out)
    assert decoded_times_ms(out) == pytest.approx(timestamps, abs=1)


def test_moov_comes_before_mdat_for_progressive_playback(tmp_path: Path) -> None:
    out = tmp_path / "fast.mp4"
    encode_mp4(moving_disc(10), at_rate(10, 30), out)
    boxes = top_level_boxes(out)
    assert boxes[0] == "ftyp"
    assert boxes.index("moov") < boxes.index("mdat")


def test_odd_sizes_are_padded_not_scaled(tmp_path: Path) -> None:
    frames = list(moving_disc(5, rows=75, columns=101))
    out = tmp_path / "odd.mp4"
    report = encode_mp4(iter(frames), at_rate(5, 20), out)

    assert (report.width, report.height) == (102, 76)
    decoded = [frame for frame, _ in iter_video_frames(out)]
    assert decoded[0].shape == (76, 102, 3)
    # Not scaled: the picture sits where it was, and the added edge copies its neighbour.
    original = frames[0].astype(int)
    assert np.abs(decoded[0][:75, :101].astype(int) - original).mean() < 4
    assert np.abs(decoded[0][75].astype(int) - decoded[0][74].astype(int)).mean() < 4


def test_greyscale_input_stays_grey(tmp_path: Path) -> None:
    frames = list(moving_disc(6, grey=True))
    out = tmp_path / "grey.mp4"
    encode_mp4(iter(frames), at_rate(6, 25), out)

    first, _ = next(iter_video_frames(out))
    assert np.abs(first.astype(int) - frames[0][..., None].astype(int)).mean() < 4
    assert np.ptp(first.astype(int), axis=2).max() <= 3  # R, G and B agree


@pytest.mark.parametrize("colour", [(200, 30, 30), (30, 160, 60), (128, 128, 128)])
def test_colours_survive_the_yuv_round_trip(tmp_path: Path, colour: tuple[int, int, int]) -> None:
    frames = [np.full((64, 64, 3), colour, np.uint8)] * 3
    out = tmp_path / "colour.mp4"
    encode_mp4(frames, at_rate(3, 25), out)
    first, _ = next(iter_video_frames(out))
    assert np.abs(first.reshape(-1, 3).mean(axis=0) - colour).max() < 6


def test_a_single_frame_is_shown_for_a_second(tmp_path: Path) -> None:
    report = encode_mp4(moving_disc(1), [40.0], tmp_path / "one.mp4")
    assert report.frames == 1
    assert report.duration_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("count", "timestamps", "message"),
    [
        (0, [], "no frames"),
        (0, [0.0, 40.0], "no frames"),
        (3, [], "no timestamps"),
        (3, [0.0, 40.0], "more than 2 frames but 2 timestamps"),
        (2, [0.0, 40.0, 80.0], "2 frames but 3 timestamps"),
        (3, [0.0, 40.0, 40.0], "must increase: frame 3 at 40 ms follows frame 2 at 40 ms"),
        (3, [0.0, 80.0, 40.0], "must increase"),
        (3, [0.0, float("nan"), 80.0], "not a number"),
    ],
)
def test_refuses_inconsistent_loops(
    tmp_path: Path, count: int, timestamps: list[float], message: str
) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(VideoError, match=message) as caught:
        encode_mp4(moving_disc(count), timestamps, out)
    assert isinstance(caught.value, QaMeetingError)
    assert "Frame Time" in caught.value.remedy
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (np.zeros((16, 16), np.float32), TypeError),
        (np.zeros((16, 16, 4), np.uint8), ValueError),
        (np.zeros((16,), np.uint8), ValueError),
    ],
)
def test_wrong_arrays_are_bugs_not_refusals(tmp_path: Path, frame: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        encode_mp4([frame], [0.0], tmp_path / "x.mp4")


def test_a_frame_of_another_size_is_a_bug(tmp_path: Path) -> None:
    frames = [np.zeros((16, 16), np.uint8), np.zeros((16, 18), np.uint8)]
    with pytest.raises(ValueError, match="every frame"):
        encode_mp4(frames, [0.0, 40.0], tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    out = tmp_path / "loop.mp4"
    out.write_bytes(b"previous version")

    def failing() -> Iterator[np.ndarray]:
        yield from moving_disc(20)
        raise RuntimeError("scanner file truncated")

    with pytest.raises(RuntimeError, match="truncated"):
        encode_mp4(failing(), at_rate(40, 25), out)
    assert out.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["loop.mp4"]


def test_encoding_streams_frames_in_bounded_memory(tmp_path: Path) -> None:
    count, rows, columns = 300, 600, 800
    whole_cine = count * rows * columns * 3

    def frames() -> Iterator[np.ndarray]:
        base = np.zeros((rows, columns, 3), np.uint8)
        for index in range(count):
            frame = base.copy()
            frame[200:400, index : index + 200] = 200
            yield frame

    tracemalloc.start()
    try:
        report = encode_mp4(frames(), at_rate(count, 30), tmp_path / "big.mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.frames == count
    assert peak < 0.25 * whole_cine


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "fmt"),
    [
        ("phone.mp4", "h264", "yuv420p", None),
        ("laptop.avi", "mjpeg", "yuvj420p", None),
        ("old.avi", "mpeg4", "yuv420p", None),
        ("mac.mov", "mpeg4", "yuv420p", None),
        ("screen.mkv", "mpeg4", "yuv420p", None),  # Matroska does not store a frame count
    ],
)
def test_reads_clips_that_arrive_without_dicom(
    tmp_path: Path, name: str, codec: str, pix_fmt: str, fmt: str | None
) -> None:
    path = tmp_path / name
    write_clip(path, codec, pix_fmt, count=12, fps=10, fmt=fmt)

    info = probe_video(path)
    assert (info.width, info.height, info.frames, info.codec) == (128, 96, 12, codec)
    assert info.frames_per_second == pytest.approx(10.0)
    assert info.duration_s == pytest.approx(1.2, abs=0.1)
    frames = list(iter_video_frames(path))
    assert [time for _, time in frames] == pytest.approx(at_rate(12, 10), abs=1)
    assert all(frame.shape == (96, 128, 3) and frame.dtype == np.uint8 for frame, _ in frames)


def test_reads_back_its_own_variable_timing(tmp_path: Path) -> None:
    timestamps = [0.0, 33.3, 50.0, 120.0, 130.0]
    out = tmp_path / "vfr.mp4"
    encode_mp4(moving_disc(5), timestamps, out)
    assert [t for _, t in iter_video_frames(out)] == pytest.approx(timestamps, abs=1)
    info = probe_video(out)
    assert info.frames == 5
    assert info.duration_s == pytest.approx(0.14, abs=1e-3)


def test_unreadable_files_get_a_remedy(tmp_path: Path) -> None:
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(np.random.default_rng(3).bytes(4096))
    for reader in (probe_video, lambda path: list(iter_video_frames(path))):
        with pytest.raises(VideoError, match=r"This video could not be read \(clip.mp4") as caught:
            reader(corrupt)
        assert caught.value.remedy == UNREADABLE_REMEDY
    with pytest.raises(VideoError, match="could not be read"):
        probe_video(tmp_path / "missing.mp4")


def test_a_file_without_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "voice.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts, frame.time_base = 8000, 0, Fraction(1, 8000)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(VideoError, match="no video track"):
        probe_video(path)


def test_absurd_sizes_are_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clip.avi"
    write_clip(path, "mjpeg", "yuvj420p", count=12, fps=10)
    monkeypatch.setattr(video, "MAX_FRAMES", 5)
    with pytest.raises(VideoError, match=r"too large.*12 frames"):
        probe_video(path)
    monkeypatch.setattr(video, "MAX_FRAMES", 100)
    monkeypatch.setattr(video, "MAX_PIXELS", 64 * 64)
    with pytest.raises(VideoError, match=r"too large.*128x96"):
        next(iter_video_frames(path))
