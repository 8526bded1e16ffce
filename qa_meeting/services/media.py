"""Playable media per clip: an H.264 MP4 at the true frame rate, a thumbnail, key frames.

Derived from the stored original on first view (or by ``qa-meeting render`` and the demo
loader ahead of time) and kept in the media store beside it; rebuilt whenever a file is missing.
The frame timing travels in a small ``timing.json`` beside the video, so that a player never
decodes the original just to know when each frame starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from qa_meeting.domain.cine import CineInfo, UltrasoundRegion
from qa_meeting.domain.deid import NeedsMaskError, PixelPlan, plan_pixels
from qa_meeting.imaging import frames as dicom_frames
from qa_meeting.imaging import stills, video
from qa_meeting.imaging.deid_pixels import apply_plan, load_pixel_rules
from qa_meeting.imaging.deidentify import pixel_plan_of_file
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.scans import visible_clip
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Clip

VIDEO_NAME = "cine.mp4"
THUMBNAIL_NAME = "thumb.png"
TIMING_NAME = "timing.json"
TIMING_VERSION = 1

Progress = Callable[[int, int], None]  # (frames done, frames in all)
Frame = NDArray[np.uint8]


@dataclass(frozen=True)
class ClipTiming:
    """When each frame starts, and the pixel geometry a player and annotations need."""

    rows: int
    columns: int
    timestamps_ms: tuple[float, ...]
    frames_per_second: float
    duration_ms: float
    variable_timing: bool
    frame_rate_source: str
    regions: tuple[UltrasoundRegion, ...] = ()

    @property
    def number_of_frames(self) -> int:
        return len(self.timestamps_ms)


@dataclass(frozen=True)
class ClipMedia:
    clip_id: int
    video_path: Path
    thumbnail_path: Path
    timing: ClipTiming
    built: bool  # True when this call had to (re)build something


@dataclass(frozen=True)
class RenderReport:
    """What ``render_file`` did, for ``qa-meeting render --json``."""

    frames: int
    frames_per_second: float
    duration_s: float
    photometric: str
    transfer_syntax: str
    decode_s: float
    encode_s: float
    video: str
    thumbnail: str


def clip_media(
    ctx: AppContext,
    actor: Actor,
    clip_id: int,
    *,
    progress: Progress | None = None,
    anonymised: bool = False,
) -> ClipMedia:
    """The clip's video, thumbnail and timing, building whatever is missing.

    ``anonymised``: only the ultrasound image is shown, everything the machine burned in around
    it (patient banner, dates) blanked by the same pixel plan the export uses; raises
    ``NeedsMaskError`` when the clip has no region information and no rule for its model.
    """
    with transaction(ctx.engine) as session:
        clip = visible_clip(session, actor, clip_id)
        study = repository.get_study(session=session, study_id=clip.study_id)
    plan = None
    if anonymised:
        assert study is not None
        plan = _anonymising_plan(ctx, clip, study.manufacturer, study.model_name)
    return ensure_media(ctx, clip, progress=progress, plan=plan)


def _anonymising_plan(ctx: AppContext, clip: Clip, manufacturer: str, model: str) -> PixelPlan:
    """The export's pixel plan: DICOM from its own header, other clips by the study's machine."""
    if clip.container == "dicom":
        return dicom_pixel_plan(ctx, clip)
    return plan_pixels(
        rows=clip.rows,
        columns=clip.columns,
        manufacturer=manufacturer,
        model=model,
        regions=(),
        rules=load_pixel_rules(),
    )


def dicom_pixel_plan(ctx: AppContext, clip: Clip) -> PixelPlan:
    """The pixel plan of a stored DICOM loop, read from its header (the ultrasound regions,
    else a rule for its machine); ``NeedsMaskError`` when neither is there."""
    return pixel_plan_of_file(
        ctx.media.path_for(clip.sha256),
        rules=load_pixel_rules(),
        max_decoded_bytes=ctx.settings.max_decoded_mb * 2**20,
    )


def _names(plan: PixelPlan | None) -> tuple[str, str]:
    """Derived file names: the plan's digest keeps a changed rule from reusing old videos."""
    if plan is None:
        return VIDEO_NAME, THUMBNAIL_NAME
    digest = hashlib.sha256(repr(plan).encode()).hexdigest()[:12]
    return f"cine-anon-{digest}.mp4", f"thumb-anon-{digest}.png"


def ensure_media(
    ctx: AppContext,
    clip: Clip,
    *,
    progress: Progress | None = None,
    plan: PixelPlan | None = None,
) -> ClipMedia:
    """Build the derived files of ``clip`` that are missing (no access check: callers do it)."""
    assert clip.id is not None
    original = ctx.media.path_for(clip.sha256)
    video_name, thumbnail_name = _names(plan)
    video_path = ctx.media.derived_path(clip.sha256, video_name)
    thumbnail_path = ctx.media.derived_path(clip.sha256, thumbnail_name)
    timing_path = ctx.media.derived_path(clip.sha256, TIMING_NAME)
    built = False
    timing = _read_timing(timing_path)
    if timing is None or not video_path.is_file():
        video_path.parent.mkdir(parents=True, exist_ok=True)
        timing = _build_video(clip, original, video_path, progress, plan)
        _write_json(timing_path, {"version": TIMING_VERSION, **asdict(timing)})
        built = True
    if not thumbnail_path.is_file():
        middle = _frame(clip, original, timing.number_of_frames // 2)
        stills.thumbnail_png(apply_plan(middle, plan) if plan else middle, thumbnail_path)
        built = True
    return ClipMedia(clip.id, video_path, thumbnail_path, timing, built)


def build_missing_media(ctx: AppContext) -> int:
    """Prepare the media of every clip that lacks them (the demo loader, an admin's backfill)."""
    with transaction(ctx.engine) as session:
        clips = list(repository.list_all_clips(session=session))
        studies = repository.studies_by_id(session=session, study_ids=[c.study_id for c in clips])
    built = 0
    for clip in clips:
        study = studies[clip.study_id]
        if ensure_media(ctx, clip).built:
            built += 1
        with suppress(NeedsMaskError):  # shown as stored only when a chair chooses to
            plan = _anonymising_plan(ctx, clip, study.manufacturer, study.model_name)
            ensure_media(ctx, clip, plan=plan)
    return built


def key_frame(ctx: AppContext, actor: Actor, clip_id: int, frame_index: int) -> Path:
    """A full-size PNG of one frame, decoded alone and kept for the next time."""
    with transaction(ctx.engine) as session:
        clip = visible_clip(session, actor, clip_id)
    path = ctx.media.derived_path(clip.sha256, f"frame-{frame_index:05d}.png")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        stills.frame_png(_frame(clip, ctx.media.path_for(clip.sha256), frame_index), path)
    return path


def render_file(source: Path, out_dir: Path, *, max_decoded_bytes: int) -> RenderReport:
    """Render a DICOM file to ``out_dir``: what a user runs to check their scanner's files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    info = dicom_frames.open_cine(source, max_decoded_bytes=max_decoded_bytes)
    decode = _Stopwatch()
    frames = decode.timed(dicom_frames.iter_rgb_frames(source, max_decoded_bytes=max_decoded_bytes))
    video_path = out_dir / f"{source.stem}.mp4"
    start = time.perf_counter()
    report = video.encode_mp4(frames, info.timestamps_ms, video_path)
    encode_s = time.perf_counter() - start - decode.seconds
    thumbnail = stills.thumbnail_png(
        dicom_frames.read_frame(source, info.number_of_frames // 2), out_dir / f"{source.stem}.png"
    )
    return RenderReport(
        frames=report.frames,
        frames_per_second=round(info.frames_per_second, 3),
        duration_s=round(info.duration_ms / 1000, 3),
        photometric=info.photometric_interpretation,
        transfer_syntax=info.transfer_syntax_name,
        decode_s=round(decode.seconds, 3),
        encode_s=round(encode_s, 3),
        video=str(video_path),
        thumbnail=str(thumbnail),
    )


class _Stopwatch:
    """Adds up the time spent inside an iterator's ``next`` (the decoding)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, items: Iterable[Frame]) -> Iterator[Frame]:
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.seconds += time.perf_counter() - start
                return
            self.seconds += time.perf_counter() - start
            yield item


def _timing_from_info(info: CineInfo) -> ClipTiming:
    return ClipTiming(
        rows=info.rows,
        columns=info.columns,
        timestamps_ms=info.timestamps_ms,
        frames_per_second=info.frames_per_second,
        duration_ms=info.duration_ms,
        variable_timing=info.variable_timing,
        frame_rate_source=info.frame_rate_source.value,
        regions=info.regions,
    )


def _timing_from_video(original: Path) -> ClipTiming:
    info = video.probe_video(original)
    timestamps = tuple(ts for _, ts in video.iter_video_frames(original))
    start = timestamps[0] if timestamps else 0.0
    timestamps = tuple(t - start for t in timestamps)
    intervals = np.diff(timestamps) if len(timestamps) > 1 else np.array([1000.0])
    last = float(intervals[-1])
    duration = (timestamps[-1] + last) if timestamps else 0.0
    return ClipTiming(
        rows=info.height,
        columns=info.width,
        timestamps_ms=timestamps,
        frames_per_second=len(timestamps) / (duration / 1000) if duration else 0.0,
        duration_ms=duration,
        variable_timing=bool(np.ptp(intervals) > 1.0),
        frame_rate_source="container",
    )


def _counted(frames: Iterable[Frame], total: int, progress: Progress | None) -> Iterator[Frame]:
    for done, frame in enumerate(frames, start=1):
        yield frame
        if progress is not None:
            progress(done, total)


def _build_video(
    clip: Clip, original: Path, out: Path, progress: Progress | None, plan: PixelPlan | None
) -> ClipTiming:
    if clip.container == "dicom":
        timing = _timing_from_info(dicom_frames.open_cine(original))
        frames: Iterable[Frame] = dicom_frames.iter_rgb_frames(original)
    else:
        timing = _timing_from_video(original)
        frames = (frame for frame, _ in video.iter_video_frames(original))
    if plan is not None:
        frames = (apply_plan(frame, plan) for frame in frames)
    video.encode_mp4(_counted(frames, timing.number_of_frames, progress), timing.timestamps_ms, out)
    return timing


def _frame(clip: Clip, original: Path, index: int) -> Frame:
    if clip.container == "dicom":
        return dicom_frames.read_frame(original, index)
    for position, (frame, _) in enumerate(video.iter_video_frames(original)):
        if position == index:
            return frame
    raise IndexError(index)


def _read_timing(path: Path) -> ClipTiming | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.pop("version", None) != TIMING_VERSION:
        return None
    regions = tuple(UltrasoundRegion(**region) for region in data.pop("regions", []))
    data["timestamps_ms"] = tuple(data["timestamps_ms"])
    return ClipTiming(**data, regions=regions)


def _write_json(path: Path, data: dict[str, object]) -> None:
    fd, temporary = tempfile.mkstemp(prefix=".timing-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
