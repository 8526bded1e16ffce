"""Home: what is waiting, in numbers."""

from __future__ import annotations

import streamlit as st

from qa_meeting.services import scans
from qa_meeting.ui import links, resources, state


def render() -> None:
    actor = state.require_actor()
    st.title("QA Meeting")
    counts = scans.home_counts(resources.app_context(), actor)
    mine = "" if scans.is_staff(actor) else " (your scans)"
    st.subheader(f"What is waiting{mine}")
    first, second, third = st.columns(3)
    first.metric("Awaiting the trainee's read", counts.awaiting_read)
    second.metric("Awaiting an expert over-read", counts.awaiting_overread)
    third.metric("Reviewed", counts.reviewed)
    fourth, fifth, sixth = st.columns(3)
    fourth.metric("Discordant", counts.discordant)
    if scans.is_staff(actor):
        fifth.metric("Queued for the next QA meeting", counts.queued_for_meeting)
    sixth.metric("Scans in total", counts.total)
    if counts.total == 0:
        st.info("No scans yet. Upload DICOM files on the Inbox page.")
    elif st.button("Open the Inbox", icon=":material/inbox:"):
        links.go_to("inbox")
