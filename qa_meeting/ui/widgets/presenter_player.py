"""The presenter's loop, large, and the expert's annotated frames that move it.

Not a fragment and never inside one: the timer and the audience poll rerun on their own, and
the player's iframe is only rebuilt when what it shows changes (another clip or frame).
"""

from __future__ import annotations

import streamlit as st

from qa_meeting.domain.deid import NeedsMaskError
from qa_meeting.domain.meeting import RevealStep
from qa_meeting.services import media
from qa_meeting.services.context import Actor
from qa_meeting.services.presenter import PresenterCase, ReasoningItem
from qa_meeting.ui import resources
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets.cine_player import cine_player

PLAYER_HEIGHT = 560


def _keys(case: PresenterCase) -> tuple[str, str]:
    return f"present_clip_{case.item_id}", f"present_reasoning_{case.item_id}"


def _chosen_reasoning(case: PresenterCase) -> ReasoningItem | None:
    index = st.session_state.get(_keys(case)[1])
    if isinstance(index, int) and 0 <= index < len(case.reasoning_items):
        return case.reasoning_items[index]
    return None


def _media(actor: Actor, clip_id: int) -> media.ClipMedia | None:
    """The loop with everything outside the ultrasound image blanked, as the room sees it.

    A loop without region information and without a rule for its machine cannot be blanked:
    it is held back unless the chair chooses to show it as stored.
    """
    bar = st.empty()

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Preparing the loop: frame {done} of {total}")

    ctx = resources.app_context()
    try:
        result = media.clip_media(ctx, actor, clip_id, progress=progress, anonymised=True)
    except NeedsMaskError:
        bar.empty()
        st.warning(
            "This loop has no ultrasound region information and no rule for its machine, so "
            "the patient details the machine burned in around the image cannot be blanked."
        )
        if not st.checkbox(
            "Show it as stored (only if the room may see what is burned in)",
            key=f"present_unmasked_{clip_id}",
        ):
            return None
        result = media.clip_media(ctx, actor, clip_id, progress=progress)
    bar.empty()
    return result


def stage_player(actor: Actor, case: PresenterCase) -> None:
    """The loop at its stored rate; paused on the chosen reasoning frame, if any."""
    if not case.clips:
        st.info("This scan has no loops.")
        return
    clip_key, _ = _keys(case)
    labels = {
        c.clip_id: f"Loop {n} · {c.view or 'view not set'}" for n, c in enumerate(case.clips, 1)
    }
    clip_id = case.clips[0].clip_id
    if len(case.clips) > 1:
        clip_id = st.selectbox("Loop", list(labels), format_func=labels.__getitem__, key=clip_key)
    reasoning = _chosen_reasoning(case) if case.step >= RevealStep.EXPERT_READ else None
    frame = reasoning.frame_index if reasoning and reasoning.clip_id == clip_id else None
    with reported_errors():
        shown = _media(actor, clip_id)
        if shown is not None:
            cine_player(
                shown, start_frame=frame or 0, paused=frame is not None, height=PLAYER_HEIGHT
            )


def reasoning_choice(case: PresenterCase) -> None:
    """The expert's annotated frames; choosing one moves the player there, paused."""
    if not case.reasoning_items:
        st.caption("The expert marked no frames on this scan's loops.")
        return
    clip_key, reasoning_key = _keys(case)
    several = len(case.clips) > 1

    def describe(index: int) -> str:
        item = case.reasoning_items[index]
        where = f"loop {item.clip_id}, " if several else ""
        text = f" · {item.label}" if item.label else ""
        return f"{where}frame {item.frame_index + 1} · {item.kind}{text}"

    def jump() -> None:
        index = st.session_state.get(reasoning_key)
        if isinstance(index, int) and several:
            st.session_state[clip_key] = case.reasoning_items[index].clip_id

    st.selectbox(
        "The expert's reasoning, frame by frame",
        list(range(len(case.reasoning_items))),
        index=None,
        placeholder="Choose an annotated frame to show it",
        format_func=describe,
        key=reasoning_key,
        on_change=jump,
    )
