"""Meetings: every QA meeting, planned, live and held, with its cases and attendance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa_meeting.services import meetings, scans
from qa_meeting.store.models import MeetingStatus
from qa_meeting.ui import links, resources, state
from qa_meeting.ui.feedback import reported_errors


def render() -> None:
    actor = state.require_actor()
    st.title("Meetings")
    if not scans.is_staff(actor):
        st.info("The list of meetings is for experts and the chair.")
        return
    with reported_errors():
        rows = meetings.list_meetings(resources.app_context(), actor)
        if not rows:
            st.info("No meeting yet. The chair plans one on Queue & agenda.")
            return
        st.dataframe(
            pd.DataFrame(
                {
                    "Meeting": [m.id for m in rows],
                    "Date": [m.held_on for m in rows],
                    "Status": [m.status for m in rows],
                    "Chair": [m.chair for m in rows],
                    "Slot (min)": [m.slot_minutes for m in rows],
                    "Cases": [m.cases for m in rows],
                    "Presented": [m.presented for m in rows],
                    "Deferred": [m.deferred for m in rows],
                    "Attended": [m.attendance for m in rows],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        live = any(m.status == MeetingStatus.LIVE for m in rows)
        if live and meetings.can_run(actor):
            st.page_link(
                links.page("present"),
                label="A meeting is live: open the presenter",
                icon=":material/co_present:",
            )
        elif live:
            st.page_link(
                links.page("follow"),
                label="A meeting is live: follow it",
                icon=":material/smartphone:",
            )
        if meetings.can_run(actor):
            st.page_link(
                links.page("agenda"),
                label="Plan or edit a meeting on Queue & agenda",
                icon=":material/event_list:",
            )
