"""The presenter's live parts: the case timer and the room's answers.

Each is a fragment that reruns on a timer and holds nothing else, so the cine player (outside
every fragment) keeps playing and typed text in the capture forms is never touched.
"""

from __future__ import annotations

import streamlit as st

from qa_meeting.domain.meeting import RevealStep, answers_open
from qa_meeting.services import presenter
from qa_meeting.services.context import Actor
from qa_meeting.services.presenter import PresenterCase
from qa_meeting.ui import resources
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets.answer_charts import distribution_figure


def _clock(seconds: int) -> str:
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def timer_text(elapsed_seconds: float, planned_minutes: int) -> str:
    """ "mm:ss / mm:00", red once the case runs over its planned minutes."""
    elapsed = int(elapsed_seconds)
    planned = planned_minutes * 60
    shown = f"{_clock(elapsed)} / {_clock(planned)}"
    if elapsed > planned:
        return f":red[**{shown}**] :red-badge[over by {_clock(elapsed - planned)}]"
    return f"**{shown}**"


@st.fragment(run_every="1s")
def case_timer(case: PresenterCase) -> None:
    """Time on this case against its planned minutes, every second."""
    with st.container(key="presenter_timer"):
        st.markdown(timer_text(case.elapsed_seconds(), case.planned_minutes))


@st.fragment(run_every="2s")
def audience_panel(actor: Actor, case: PresenterCase) -> None:
    """How many committed answers; from the expert's read on, how they were distributed.

    The poll asks only for the meeting's position and the answers (``room_answers``), not the
    whole case: the protocol and the expert's answers come from the case the page drew.
    """
    with reported_errors():
        room = presenter.room_answers(
            resources.app_context(), actor, case.meeting_id, case.protocol
        )
        if room.item_id != case.item_id or room.step != case.step:
            st.rerun()  # the meeting moved on from another device: redraw the presenter
        if case.step < RevealStep.EXPERT_READ:
            closed = "" if answers_open(case.step) else " (answers closed)"
            st.markdown(
                f":blue[:material/how_to_vote:] **{room.responses}** answer(s) committed "
                f"in the room{closed}"
            )
            return
        st.markdown(f"**The room's answers** ({room.responses} committed)")
        if not room.responses:
            st.caption("Nobody committed answers for this case.")
            return
        expert = dict(case.expert_read.answers) if case.expert_read else {}
        st.plotly_chart(
            distribution_figure(case.protocol, room.distribution, expert),
            config={"displayModeBar": False},
            key=f"distribution_{case.item_id}",
        )
        st.caption("Green: the expert's answer.")
