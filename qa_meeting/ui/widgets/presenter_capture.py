"""What the chair records during a case: teaching points, the consensus, attendance.

Each is an ``st.form`` keyed by the case, so typing never reruns the page (the loop keeps
playing) and a rerun from elsewhere (the next step, a timer) never loses half-typed text.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from qa_meeting.domain.discordance import StudyCategory, category_label
from qa_meeting.domain.meeting import BiasTag, ErrorStage, RemedialAction, TeachingCategory, label
from qa_meeting.services import meetings, presenter, users
from qa_meeting.services.context import Actor
from qa_meeting.services.presenter import Consensus, PresenterCase
from qa_meeting.ui import resources
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets.agreement import plain


def _index(options: Sequence[object], value: object) -> int:
    return options.index(value) if value in options else 0


def teaching_point_form(actor: Actor, case: PresenterCase) -> None:
    """Type a teaching point (text, category, tags, optional frame) and save it."""
    item = case.item_id
    frames = max((clip.number_of_frames for clip in case.clips), default=0)
    with st.form(f"teaching_point_{item}", clear_on_submit=True):
        text = st.text_area(
            "Teaching point", max_chars=presenter.MAX_TEACHING_POINT, key=f"tp_text_{item}"
        )
        left, middle, right = st.columns(3)
        category = left.selectbox(
            "Category",
            list(TeachingCategory),
            format_func=lambda c: label(c.value),
            key=f"tp_category_{item}",
        )
        tags = middle.text_input("Tags (comma separated)", key=f"tp_tags_{item}")
        frame = right.number_input(
            "Frame (optional)",
            min_value=1,
            max_value=max(frames, 1),
            value=None,
            step=1,
            key=f"tp_frame_{item}",
            disabled=frames == 0,
        )
        submitted = st.form_submit_button("Save teaching point", icon=":material/lightbulb:")
    if submitted:
        with reported_errors():
            presenter.add_teaching_point(
                resources.app_context(),
                actor,
                item,
                text=text,
                category=category or TeachingCategory.INTERPRETATION,  # never None here
                tags=tags.split(","),
                frame_index=None if frame is None else int(frame) - 1,
            )
            st.toast("Teaching point saved.")
            st.rerun()


def teaching_points_list(case: PresenterCase) -> None:
    """The teaching points recorded for this case so far (their text shown as text)."""
    if not case.teaching_points:
        st.caption("No teaching points for this case yet.")
        return
    for point in case.teaching_points:
        with st.container(border=True):
            frame = f" · frame {point.frame_index + 1}" if point.frame_index is not None else ""
            st.markdown(f":blue-badge[{plain(label(point.category))}]{frame}")
            st.text(point.text)
            if point.tags:
                st.text(f"Tags: {', '.join(point.tags)}")


def consensus_form(actor: Actor, case: PresenterCase) -> None:
    """What the meeting agreed: classification, error stage, remedy, biases, image bank."""
    item, saved = case.item_id, case.consensus
    automatic = category_label(case.discordance.category) if case.discordance else "none"
    categories: list[StudyCategory | None] = [None, *StudyCategory]
    stages: list[ErrorStage | None] = [None, *ErrorStage]
    actions: list[RemedialAction | None] = [None, *RemedialAction]
    with st.form(f"consensus_{item}"):
        category = st.selectbox(
            "Consensus classification",
            categories,
            index=_index(categories, saved.category),
            format_func=lambda c: (
                f"Same as automatic ({automatic})" if c is None else category_label(c)
            ),
            key=f"consensus_category_{item}",
        )
        left, right = st.columns(2)
        stage = left.selectbox(
            "Where it went wrong (I-AIM)",
            stages,
            index=_index(stages, saved.error_stage),
            format_func=lambda s: "Not set" if s is None else label(s.value),
            key=f"consensus_stage_{item}",
        )
        action = right.selectbox(
            "Remedial action",
            actions,
            index=_index(actions, saved.remedial_action),
            format_func=lambda a: "Not set" if a is None else label(a.value),
            key=f"consensus_action_{item}",
        )
        biases = st.multiselect(
            "Cognitive-bias tags (REALM)",
            list(BiasTag),
            default=list(saved.bias_tags),
            format_func=lambda b: label(b.value),
            key=f"consensus_biases_{item}",
        )
        approved = st.checkbox(
            "Approve for the image bank",
            value=saved.approved_for_bank,
            key=f"consensus_bank_{item}",
        )
        submitted = st.form_submit_button("Save consensus", type="primary")
    if submitted:
        with reported_errors():
            presenter.save_consensus(
                resources.app_context(),
                actor,
                item,
                Consensus(category, stage, action, tuple(biases), approved),
            )
            st.toast("Consensus saved.")
            st.rerun()


def attendance_form(actor: Actor, meeting_id: int) -> None:
    """Record who is in the room (people following on their phone count themselves)."""
    people = {u.id: u.display_name for u in users.list_users(resources.app_context()) if u.active}
    with st.form(f"attendance_{meeting_id}", clear_on_submit=True):
        chosen = st.multiselect(
            "Who is in the room",
            list(people),
            format_func=people.__getitem__,
            key=f"attendance_people_{meeting_id}",
        )
        submitted = st.form_submit_button("Record attendance", icon=":material/how_to_reg:")
    if submitted and chosen:
        with reported_errors():
            meetings.mark_attendance(resources.app_context(), actor, meeting_id, chosen)
            st.toast(f"Attendance recorded for {len(chosen)} people.")
