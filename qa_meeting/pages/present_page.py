"""Present: the chair runs the live meeting on the projector, one reveal step at a time.

Buttons only remember what was asked (callbacks set session state); ``render`` then makes one
service call for it, loads the case and draws it. The loop sits outside every fragment, so the
per-second timer and the audience poll never restart it.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from qa_meeting.domain.meeting import RevealStep, label
from qa_meeting.services import meetings, presenter
from qa_meeting.services.context import Actor
from qa_meeting.services.meetings import Move
from qa_meeting.services.presenter import PresenterCase
from qa_meeting.store.models import ItemOutcome, MeetingStatus
from qa_meeting.ui import links, resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import presenter_capture as capture
from qa_meeting.ui.widgets import presenter_panels as panels
from qa_meeting.ui.widgets.agreement import plain
from qa_meeting.ui.widgets.presenter_live import audience_panel, case_timer
from qa_meeting.ui.widgets.presenter_player import reasoning_choice, stage_player

# Constant CSS for a projector: larger type inside the presenter's own containers. No user
# text ever goes through st.html.
PROJECTOR_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2rem; }
.st-key-presenter_stage [data-testid="stMarkdownContainer"] p,
.st-key-presenter_stage [data-testid="stMarkdownContainer"] li {
  font-size: 1.35rem; line-height: 1.45;
}
.st-key-presenter_stage [data-testid="stMarkdownContainer"] td,
.st-key-presenter_stage [data-testid="stMarkdownContainer"] th {
  font-size: 1.2rem; line-height: 1.35; overflow-wrap: anywhere;
}
.st-key-presenter_stage span.stMarkdownBadge { font-size: 1.05rem; white-space: normal; }
.st-key-presenter_stage [data-testid="stText"] {
  font-size: 1.3rem; font-family: inherit; white-space: pre-wrap;
}
.st-key-presenter_stage [data-testid="stMetricValue"],
.st-key-presenter_stage [data-testid="stMetricValue"] p { font-size: 2.6rem; line-height: 1.2; }
.st-key-presenter_stage [data-testid="stMetricLabel"] p { font-size: 1.1rem; }
.st-key-presenter_header h3 { font-size: 1.8rem; padding: 0; }
.st-key-presenter_timer p { font-size: 2.2rem; font-variant-numeric: tabular-nums; margin: 0; }
</style>"""
_PENDING = "present_pending"
_CONFIRM_CLOSE = "present_confirm_close"
_START = "start"
_MOVE = "move"
_GO_TO = "go_to"
_OUTCOME = "outcome"
_CLOSE = "close"


@dataclass(frozen=True)
class _Request:
    action: str
    meeting_id: int
    value: str = ""  # a Move or an ItemOutcome value
    item_id: int = 0


def _request(action: str, meeting_id: int, value: str = "", item_id: int = 0) -> None:
    """Button callback: remember what was asked; ``render`` does it."""
    st.session_state[_PENDING] = _Request(action, meeting_id, value, item_id)


def _set_confirm_close(on: bool) -> None:
    st.session_state[_CONFIRM_CLOSE] = on


def _apply_pending(actor: Actor) -> None:
    asked = st.session_state.pop(_PENDING, None)
    if not isinstance(asked, _Request):
        return
    ctx, meeting_id = resources.app_context(), asked.meeting_id
    if asked.action == _START:
        meetings.start_meeting(ctx, actor, meeting_id)
    elif asked.action == _MOVE:
        meetings.navigate(ctx, actor, meeting_id, Move(asked.value))
    elif asked.action == _GO_TO:
        meetings.go_to_case(ctx, actor, meeting_id, asked.item_id)
    elif asked.action == _OUTCOME:
        meetings.set_outcome(ctx, actor, asked.item_id, ItemOutcome(asked.value))
    elif asked.action == _CLOSE:
        st.session_state.pop(_CONFIRM_CLOSE, None)
        meetings.close_meeting(ctx, actor, meeting_id)
        st.success("The meeting is closed. Cases not presented carry over to the queue.")


def _start_panel(actor: Actor) -> None:
    st.title("Present")
    planned = [
        m
        for m in meetings.list_meetings(resources.app_context(), actor)
        if m.status == MeetingStatus.PLANNED
    ]
    if not planned:
        st.info("No meeting is live or planned. Plan one on Queue & agenda.")
        st.page_link(
            links.page("agenda"), label="Open Queue & agenda", icon=":material/event_list:"
        )
        return
    options = {
        m.id: f"{m.held_on:%d %b %Y} · {m.cases} case(s) · {m.slot_minutes}-minute slot"
        for m in planned
    }
    chosen = st.selectbox(
        "Planned meeting", list(options), format_func=options.__getitem__, key="present_meeting"
    )
    st.button(
        "Start meeting",
        type="primary",
        icon=":material/play_arrow:",
        on_click=_request,
        args=(_START, chosen),
        key="present_start",
    )


def _nav_buttons(case: PresenterCase) -> None:
    first_case, last_case = case.position == 1, case.position == case.total
    last = case.step == RevealStep.CLASSIFICATION
    buttons = (  # label, icon, shortcut, move, disabled, primary
        ("Previous case", "skip_previous", "Shift+Left", Move.PREVIOUS_CASE, first_case, False),
        ("Previous step", "chevron_left", "Left", Move.PREVIOUS_STEP, case.step == 0, False),
        ("Next step", "chevron_right", "Right", Move.NEXT_STEP, last, not last),
        ("Next case", "skip_next", "Shift+Right", Move.NEXT_CASE, last_case, last),
    )
    for column, (text, icon, keys, move, disabled, primary) in zip(
        st.columns(4), buttons, strict=True
    ):
        column.button(
            text,
            icon=f":material/{icon}:",
            shortcut=keys,
            on_click=_request,
            args=(_MOVE, case.meeting_id, move.value),
            key=f"present_{move.value}",
            width="stretch",
            type="primary" if primary else "secondary",
            disabled=disabled,
        )


def _header(case: PresenterCase) -> None:
    with st.container(key="presenter_header"):
        title, timer, buttons = st.columns([4, 2, 8], vertical_alignment="center")
        title.markdown(f"### Case {case.position} of {case.total} · {plain(case.protocol.name)}")
        title.caption(f"Step {case.step + 1} of 5 · {case.step.title}")
        with timer:
            case_timer(case)
        with buttons:
            _nav_buttons(case)
    st.caption(
        "Keys: → next step, ← previous step, Shift+→ / Shift+← next / previous case "
        "(click outside the player first; inside it the arrows step frames)."
    )


def _step_panel(actor: Actor, case: PresenterCase) -> None:
    step = case.step
    if step < RevealStep.EXPERT_READ:
        audience_panel(actor, case)
    panels.context_panel(case, large=step == RevealStep.CONTEXT)
    if step == RevealStep.WHAT_DO_YOU_SEE:
        panels.questions_panel(case.protocol)
    elif step == RevealStep.TRAINEE_READ:
        panels.trainee_read_panel(case)
    elif step == RevealStep.EXPERT_READ:
        panels.expert_read_panel(case)
    elif step == RevealStep.CLASSIFICATION:
        panels.classification_panel(case)
        capture.consensus_form(actor, case)
    if step == RevealStep.EXPERT_READ:
        audience_panel(actor, case)


def _outcome_controls(case: PresenterCase) -> None:
    st.markdown(f"**This case:** {plain(label(case.outcome))}")
    deferred = case.outcome == ItemOutcome.DEFERRED
    target = ItemOutcome.PRESENTED if deferred else ItemOutcome.DEFERRED
    st.button(
        "Mark presented" if deferred else "Defer this case to the next meeting",
        icon=":material/redo:",
        on_click=_request,
        args=(_OUTCOME, case.meeting_id, target.value, case.item_id),
        key="present_outcome",
    )


def _meeting_controls(actor: Actor, case: PresenterCase) -> None:
    capture.attendance_form(actor, case.meeting_id)
    if not st.session_state.get(_CONFIRM_CLOSE):
        st.button(
            "Close the meeting…",
            icon=":material/stop_circle:",
            key="present_close",
            on_click=_set_confirm_close,
            args=(True,),
        )
        return
    st.warning("Close the meeting? Cases not presented are deferred and stay in the queue.")
    yes, no = st.columns(2)
    yes.button(
        "Yes, close the meeting",
        type="primary",
        key="present_close_yes",
        on_click=_request,
        args=(_CLOSE, case.meeting_id),
    )
    no.button("Cancel", key="present_close_no", on_click=_set_confirm_close, args=(False,))


def _presenter(actor: Actor, case: PresenterCase) -> None:
    _header(case)
    panels.agenda_strip(case, lambda item_id: _request(_GO_TO, case.meeting_id, item_id=item_id))
    with st.container(key="presenter_stage"):
        # From the expert's read on, the comparison table needs half the width.
        wide = case.step >= RevealStep.EXPERT_READ
        left, right = st.columns([1, 1] if wide else [3, 2], gap="large")
        with left:
            stage_player(actor, case)
            if case.step >= RevealStep.EXPERT_READ:
                reasoning_choice(case)
        with right:
            _step_panel(actor, case)
    st.divider()
    points, outcome, meeting = st.tabs(["Teaching points", "Case outcome", "Attendance & close"])
    with points:
        capture.teaching_point_form(actor, case)
        capture.teaching_points_list(case)
    with outcome:
        _outcome_controls(case)
    with meeting:
        _meeting_controls(actor, case)


def render() -> None:
    actor = state.require_actor()
    if not meetings.can_run(actor):
        st.title("Present")
        st.warning("Only the meeting chair (or an admin) runs the presenter.")
        st.page_link(
            links.page("follow"),
            label="Follow the meeting on your device",
            icon=":material/smartphone:",
        )
        return
    st.html(PROJECTOR_CSS)
    with st.container(), reported_errors():
        _apply_pending(actor)
    ctx = resources.app_context()
    meeting_id = meetings.live_meeting_id(ctx)
    if meeting_id is None:
        with reported_errors():
            _start_panel(actor)
        return
    with reported_errors():
        case = presenter.presenter_case(ctx, actor, meeting_id, resources.protocols())
        _presenter(actor, case)
