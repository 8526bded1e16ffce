"""Queue & agenda: the chair curates the queue and builds the next meeting's agenda.

Experts see the queue read-only. The chair pins, unpins or dismisses scans, adds one by its
number, proposes an agenda for a slot, edits it in a table and saves it as a meeting (or over
a planned meeting's agenda), then starts it.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from qa_meeting.services import meeting_queue, meetings, presenter, scans
from qa_meeting.services.context import Actor
from qa_meeting.services.meetings import MeetingSummary
from qa_meeting.store.models import MeetingStatus, NominationStatus
from qa_meeting.ui import links, resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import agenda_editor as editor
from qa_meeting.ui.widgets.queue_table import queue_table, take_action

_FLASH = "agenda_flash"
_NEW = 0


def _queue(actor: Actor, chair: bool) -> None:
    ctx = resources.app_context()
    with reported_errors():
        action = take_action()
        if action is not None:
            status = NominationStatus(action.status)
            meeting_queue.set_queue_status(ctx, actor, action.study_id, status)
            st.toast(f"Scan {action.study_id}: {status.value}.")
    with reported_errors():
        rows = meeting_queue.list_queue(ctx, actor)
        queue_table(rows, resources.protocols(), can_change=chair)
    if not chair:
        st.caption("Only the chair changes the queue and builds the agenda.")
        return
    with st.form("queue_add", clear_on_submit=True, border=False):
        number, submit = st.columns([3, 1], vertical_alignment="bottom")
        study_id = number.number_input("Add a scan by its number", min_value=1, step=1, value=None)
        added = submit.form_submit_button("Add to the queue", icon=":material/add:")
    if added and study_id is not None:
        with reported_errors():
            meeting_queue.add_to_queue(ctx, actor, int(study_id))
            st.toast(f"Scan {int(study_id)} is in the queue.")
            st.rerun()


def _planned_meeting_panel(actor: Actor, meeting: MeetingSummary) -> None:
    """A planned meeting's agenda as saved, and the button to start it."""
    ctx = resources.app_context()
    case = presenter.presenter_case(ctx, actor, meeting.id, resources.protocols())
    st.dataframe(
        pd.DataFrame(
            {
                "Order": [row.position for row in case.agenda],
                "Protocol": [row.protocol for row in case.agenda],
                "Trainee": [row.trainee_label for row in case.agenda],
                "Minutes": [row.planned_minutes for row in case.agenda],
                "Why chosen": [row.reason for row in case.agenda],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    total = sum(row.planned_minutes for row in case.agenda)
    st.caption(
        f"{total} of {meeting.slot_minutes} minutes planned. To change it, propose an agenda "
        "below, edit it and save it over this one."
    )
    if st.button("Start this meeting", type="primary", icon=":material/play_arrow:"):
        meetings.start_meeting(ctx, actor, meeting.id)
        links.go_to("present")


def _save(actor: Actor, target: MeetingSummary | None, held_on: date) -> None:
    draft = editor.current_draft()
    if draft is None:
        return
    cases = editor.edited_cases(draft)
    editor.minutes_summary(cases, draft.slot_minutes)
    for note in draft.notes:
        st.info(note)
    if draft.left_out:
        st.markdown("**Left out of the proposal**")
        editor.left_out_table(draft)
        labels = {c.study_id: f"Scan {c.study_id} · {c.protocol}" for c, _ in draft.left_out}
        adding = st.multiselect(
            "Add left-out scans to the agenda", list(labels), format_func=labels.__getitem__
        )
        if adding and st.button("Add to the agenda", icon=":material/playlist_add:"):
            editor.with_added(draft, cases, adding)
            st.rerun()
    label = "Save meeting" if target is None else f"Save this agenda over meeting {target.id}"
    if not st.button(label, type="primary", icon=":material/save:", key="agenda_save"):
        return
    ctx, planned = resources.app_context(), [c.planned() for c in cases]
    if target is None:
        meeting_id = meetings.create_meeting(
            ctx, actor, held_on=held_on, slot_minutes=draft.slot_minutes, agenda=planned
        )
    else:
        meeting_id = target.id
        meetings.update_agenda(ctx, actor, meeting_id, planned)
    editor.discard_draft()
    st.session_state[_FLASH] = f"Meeting {meeting_id} saved with {len(planned)} case(s)."
    st.rerun()


def _agenda(actor: Actor) -> None:
    st.header("Agenda")
    flash = st.session_state.pop(_FLASH, None)
    if isinstance(flash, str):
        st.success(flash)
    ctx = resources.app_context()
    planned = {
        m.id: m for m in meetings.list_meetings(ctx, actor) if m.status == MeetingStatus.PLANNED
    }
    names = {_NEW: "A new meeting"} | {
        m.id: f"Meeting {m.id} · {m.held_on:%d %b %Y} · {m.cases} case(s) (planned)"
        for m in planned.values()
    }
    chosen = st.selectbox("Meeting", list(names), format_func=names.__getitem__, key="agenda_for")
    target = planned.get(chosen)
    if target is not None:
        _planned_meeting_panel(actor, target)
    when, slot, propose = st.columns([2, 2, 2], vertical_alignment="bottom")
    held_on = when.date_input(
        "Meeting date", value=target.held_on if target else date.today(), disabled=bool(target)
    )
    if not isinstance(held_on, date):
        held_on = date.today()
    slot_minutes = slot.number_input(
        "Slot (minutes)",
        min_value=5,
        max_value=600,
        value=target.slot_minutes if target else 60,
        step=5,
        disabled=bool(target),
    )
    if propose.button("Propose agenda", icon=":material/auto_awesome:", key="agenda_propose"):
        entries = meeting_queue.queue_entries(ctx, actor, resources.protocols())
        editor.propose(entries, int(slot_minutes), resources.protocols())
    _save(actor, target, held_on)


def render() -> None:
    actor = state.require_actor()
    st.title("Queue & agenda")
    if not scans.is_staff(actor):
        st.info("The meeting queue is for experts and the chair.")
        st.page_link(
            links.page("follow"), label="Follow a live meeting", icon=":material/smartphone:"
        )
        return
    chair = meetings.can_run(actor)
    st.header("Queue")
    _queue(actor, chair)
    if chair:
        with reported_errors():
            _agenda(actor)
