"""Key frames for the digest: one or two de-identified stills per case, as small JPEGs.

Only the frames needed are decoded (one at a time), blanked with the same pixel plan the
anonymised presenter uses (``media.dicom_pixel_plan``: the ultrasound regions, else a rule for
the machine), and shrunk to fit an e-mail column. A loop without region information and without
a rule cannot be cleaned automatically: its picture is left out with a one-line note.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from sqlmodel import Session

from qa_meeting.domain.deid import NeedsMaskError, PixelPlan
from qa_meeting.domain.digest import KeyFrame, chosen_frames
from qa_meeting.imaging import frames as dicom_frames
from qa_meeting.imaging.deid_pixels import apply_plan
from qa_meeting.services.context import AppContext
from qa_meeting.services.media import dicom_pixel_plan
from qa_meeting.store import repository
from qa_meeting.store.models import Annotation, Clip, TeachingPoint

MAX_WIDTH = 640
JPEG_QUALITY = 80
LEFT_OUT = (
    "Picture left out: this loop carries no ultrasound region information, so its burned-in "
    "text could not be removed automatically."
)


@dataclass(frozen=True)
class FrameLink:
    """A frame a teaching point or an annotation points at, with the caption's words."""

    clip_id: int
    frame_index: int
    label: str = ""


@dataclass(frozen=True)
class CaseSources:
    """What a case's key frames are chosen from: its DICOM loops (oldest first), their
    annotations, and the teaching points recorded on it at the meeting."""

    loops: list[Clip]
    notes: list[Annotation]
    points: list[TeachingPoint]


def case_sources(session: Session, *, study_id: int, meeting_id: int | None) -> CaseSources:
    clips = repository.list_clips(session=session, study_id=study_id)
    loops = sorted((c for c in clips if c.container == "dicom"), key=lambda c: c.id or 0)
    notes = [
        a for c in loops for a in repository.list_annotations(session=session, clip_id=c.id or 0)
    ]
    points = repository.list_teaching_points(
        session=session, meeting_id=meeting_id, study_id=study_id
    )
    return CaseSources(loops, notes, list(points))


def frame_links(
    loops: Sequence[Clip],
    points: Sequence[TeachingPoint],
    annotations: Sequence[Annotation],
    labels: Mapping[int, str],
) -> list[FrameLink]:
    """Frames linked by teaching points (their annotation's loop, else the first loop), then
    annotated frames; ``labels`` maps an annotation id to its cleaned label."""
    if not loops:
        return []
    by_id = {a.id: a for a in annotations}
    sizes = {c.id: c.number_of_frames for c in loops}
    first = loops[0].id or 0
    found: list[FrameLink] = []
    for point in points:
        note = by_id.get(point.annotation_id) if point.annotation_id else None
        if note is not None:
            found.append(FrameLink(note.clip_id, note.frame_index, labels.get(note.id or 0, "")))
        elif point.frame_index is not None:
            found.append(FrameLink(first, point.frame_index))
    found += [FrameLink(a.clip_id, a.frame_index, labels.get(a.id or 0, "")) for a in annotations]
    return [f for f in found if 0 <= f.frame_index < sizes.get(f.clip_id, 0)]


def key_frames(
    ctx: AppContext, loops: Sequence[Clip], links: Sequence[FrameLink]
) -> tuple[KeyFrame, ...]:
    """The case's key frames (1-2), de-identified, as JPEG bytes with captions."""
    first = (loops[0].id or 0, loops[0].number_of_frames) if loops else None
    wanted = chosen_frames([(f.clip_id, f.frame_index) for f in links], first)
    label_of = {(f.clip_id, f.frame_index): f.label for f in reversed(links)}
    number = {c.id: n for n, c in enumerate(loops, start=1)}
    clips = {c.id: c for c in loops}
    plans: dict[int, PixelPlan | None] = {}
    found = []
    for clip_id, index in wanted:
        clip = clips[clip_id]
        words = [f"Loop {number[clip_id]}", clip.view or "", f"frame {index}"]
        caption = ", ".join(w for w in words if w)
        if label_of.get((clip_id, index)):
            caption += f": {label_of[(clip_id, index)]}"
        if clip_id not in plans:
            plans[clip_id] = _plan(ctx, clip)
        plan = plans[clip_id]
        if plan is None:
            found.append(KeyFrame(caption, note=LEFT_OUT))
            continue
        frame = dicom_frames.read_frame(
            ctx.media.path_for(clip.sha256),
            index,
            max_decoded_bytes=ctx.settings.max_decoded_mb * 2**20,
        )
        jpeg, width, height = jpeg_bytes(apply_plan(frame, plan))
        found.append(KeyFrame(caption, jpeg, width, height))
    return tuple(found)


def _plan(ctx: AppContext, clip: Clip) -> PixelPlan | None:
    """The presenter's plan for a DICOM loop; None: it needs a mask."""
    try:
        return dicom_pixel_plan(ctx, clip)
    except NeedsMaskError:
        return None


def jpeg_bytes(frame: NDArray[np.uint8], max_width: int = MAX_WIDTH) -> tuple[bytes, int, int]:
    """A JPEG of ``frame`` no wider than ``max_width`` (aspect kept), and its size."""
    image = Image.fromarray(np.ascontiguousarray(frame)).convert("RGB")
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue(), image.width, image.height
