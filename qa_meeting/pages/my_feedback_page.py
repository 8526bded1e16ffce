"""My feedback: what the QA meetings made of your own scans, for your eyes only.

Blame-free by design: good spots come first, cases show the teaching points rather than who
said what, and no one else (expert, chair or other trainee) is named.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from qa_meeting.services.context import Actor
from qa_meeting.services.digest import personal_digest_files
from qa_meeting.services.my_feedback import (
    FeedbackCase,
    FeedbackPoint,
    GoodSpot,
    MyFeedback,
    my_feedback,
)
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import digest_downloads
from qa_meeting.ui.widgets.agreement import plain

_DIGEST = "my_feedback_digest_{}"  # the prepared files (plain str/bytes), per signed-in user
INTRO = (
    "Only you see this page. It shows what the QA meetings made of your own scans: the good "
    "spots first, then each case discussed with its teaching points. It is here to help you "
    "learn, not to judge: every scanner's read differs from the expert's sometimes."
)


def _day(day: date | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else "date not recorded"


def _point_line(point: FeedbackPoint) -> str:
    tags = f" _({plain(', '.join(point.tags))})_" if point.tags else ""
    return f"- **{plain(point.category_label)}:** {plain(point.text)}{tags}"


def _good_spots(spots: tuple[GoodSpot, ...]) -> None:
    st.subheader("Good spots")
    if not spots:
        st.caption("No good spots yet. When an expert flags one of your scans, it shows here.")
        return
    for spot in spots:
        lines = [f"**{plain(spot.protocol)}**, scanned {_day(spot.scanned_on)}"]
        if spot.clinical_question:
            lines.append(f"Question: {plain(spot.clinical_question)}")
        if spot.flagged_at_over_read:
            lines.append("Flagged as a good spot at the expert over-read.")
        if spot.presented_on:
            lines.append(f"Shown at the QA meeting of {_day(spot.presented_on)}.")
        lines += [_point_line(point) for point in spot.praise]
        st.success("\n\n".join(lines), icon=":material/celebration:")


def _case(case: FeedbackCase, *, expanded: bool) -> None:
    label = f"{_day(case.held_on)} · {plain(case.protocol)} · {case.outcome_label}"
    icon = ":material/star:" if case.good_spot else ":material/school:"
    with st.expander(label, expanded=expanded, icon=icon):
        if case.clinical_question:
            st.markdown(f"**Your clinical question:** {plain(case.clinical_question)}")
        source = "agreed at the meeting" if case.agreed_at_meeting else "from comparing the reads"
        st.markdown(f"**Classification:** {case.classification_label} ({source})")
        if case.classification_meaning:
            st.caption(case.classification_meaning)
        details = []
        if case.error_stage:
            details.append(f"**Where it went differently:** {case.error_stage}")
        if case.remedial_action:
            details.append(f"**Suggested next step:** {case.remedial_action}")
        if case.approved_for_bank:
            details.append("**Chosen for the image bank** as a teaching case.")
        if details:
            st.markdown("\n\n".join(details))
        if case.teaching_points:
            st.markdown(
                "**Teaching points**\n\n" + "\n".join(map(_point_line, case.teaching_points))
            )
        elif case.outcome == "presented":
            st.caption("No teaching point was recorded on this case.")


def _cases(cases: tuple[FeedbackCase, ...]) -> None:
    st.subheader("Your cases at QA meetings")
    if not cases:
        st.caption("None of your scans has been on a meeting agenda yet.")
        return
    for index, case in enumerate(cases):
        _case(case, expanded=index == 0)  # the newest open, the rest a click away


def _digest(actor: Actor) -> None:
    """Made on request (it decodes key frames), kept for the session, downloaded without a rerun."""
    st.subheader("Personal digest")
    st.caption(
        "Your feedback as a file to keep: HTML (opens in any browser) or PDF. It holds only your "
        "own presented cases and names no one else."
    )
    key = _DIGEST.format(actor.user_id)
    label = "Prepare it again" if key in st.session_state else "Prepare my digest"
    if st.button(label, icon=":material/description:"):
        with reported_errors(), st.spinner("Preparing your digest..."):
            prepared = personal_digest_files(resources.app_context(), actor)
            st.session_state[key] = {"html": prepared.html, "pdf": prepared.pdf}
    files = st.session_state.get(key)
    if not isinstance(files, dict):
        return
    digest_downloads.show(files["html"], files["pdf"], file_stem="my-qa-feedback")


def _show(feedback: MyFeedback) -> None:
    first, second, third = st.columns(3)
    first.metric("Scans over-read", feedback.counts.over_read)
    second.metric("Presented at QA meetings", feedback.counts.presented)
    third.metric("Good spots", feedback.counts.good_spots)
    _good_spots(feedback.good_spots)
    _cases(feedback.cases)


def render() -> None:
    actor = state.require_actor()
    st.title("My feedback")
    st.caption(INTRO)
    feedback: MyFeedback | None = None
    with reported_errors():
        feedback = my_feedback(resources.app_context(), actor, resources.protocols())
    if feedback is None:
        return
    if feedback.empty:
        st.info(
            "Nothing here yet. Once your scans are over-read or discussed at a QA meeting, "
            "your feedback appears here, for you alone.",
            icon=":material/hourglass_empty:",
        )
        return
    _show(feedback)
    _digest(actor)
