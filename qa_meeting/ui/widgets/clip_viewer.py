"""A scan's loops: pick a clip, play it, step to a still frame, read or add annotations.

Runs as a fragment: clicking on the still frame or stepping reruns only this part of the page,
and nothing here decodes a clip again once its media exist (they are kept in the media store).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from qa_meeting.services import frame_annotations, media
from qa_meeting.services.context import Actor
from qa_meeting.services.review import ClipInfo
from qa_meeting.services.scans import is_staff
from qa_meeting.ui import resources
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets.cine_player import cine_player
from qa_meeting.ui.widgets.frame_annotator import annotator


def _media_with_progress(actor: Actor, clip_id: int) -> media.ClipMedia:
    bar = st.empty()

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Preparing the loop: frame {done} of {total}")

    result = media.clip_media(resources.app_context(), actor, clip_id, progress=progress)
    bar.empty()
    return result


@st.fragment
def clip_viewer(actor: Actor, clips: Sequence[ClipInfo], *, key: str) -> None:
    """The player and the still-frame view for one of ``clips``."""
    if not clips:
        st.info("This scan has no loops.")
        return
    labels = {c.clip_id: f"Clip {c.clip_id} · {c.number_of_frames} frame(s)" for c in clips}
    clip_id = (
        st.selectbox("Loop", list(labels), format_func=labels.__getitem__, key=f"{key}_clip")
        if len(clips) > 1
        else clips[0].clip_id
    )
    with reported_errors():
        clip_media = _media_with_progress(actor, clip_id)
        cine_player(clip_media)
        timing = clip_media.timing
        with st.expander("Still frame and annotations", icon=":material/draw:"):
            frame = 0
            if timing.number_of_frames > 1:
                frame = (
                    st.slider("Frame", 1, timing.number_of_frames, 1, key=f"{key}_frame_{clip_id}")
                    - 1
                )
            ctx = resources.app_context()
            png = media.key_frame(ctx, actor, clip_id, frame).read_bytes()
            stored = frame_annotations.list_annotations(ctx, actor, clip_id)
            draft = annotator(
                png,
                key=f"{key}_annotator_{clip_id}",
                frame_index=frame,
                rows=timing.rows,
                columns=timing.columns,
                stored=stored,
                regions=timing.regions,
                can_draw=is_staff(actor),
            )
            if draft is not None:
                frame_annotations.add_annotation(ctx, actor, clip_id, draft)
                st.rerun(scope="fragment")
            on_other_frames = sorted({a.draft.frame_index + 1 for a in stored} - {frame + 1})
            if on_other_frames:
                st.caption(f"Annotations also on frame(s) {', '.join(map(str, on_other_frames))}.")
