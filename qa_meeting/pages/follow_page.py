"""Follow: the live meeting on a trainee's phone; commit your own read before the reveal.

A small fragment polls the meeting every two seconds and reruns the page only when the chair
has moved on (another case or step). The answer form lives outside that fragment and its
widgets are keyed by the case, so a half-filled form survives every rerun.
"""

from __future__ import annotations

import streamlit as st

from qa_meeting.domain.meeting import RevealStep
from qa_meeting.services import audience
from qa_meeting.services.audience import FollowState
from qa_meeting.services.context import Actor
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets.agreement import answer_text, comparison_lines, plain

Shown = tuple[int, int, int] | None  # (meeting, case, step) the page was drawn for


def _shown(follow: FollowState | None) -> Shown:
    return None if follow is None else (follow.meeting_id, follow.item_id, int(follow.step))


@st.fragment(run_every="2s")
def _watch(actor: Actor, shown: Shown) -> None:
    """Rerun the whole page when the meeting moved on; nothing else lives here."""
    with reported_errors():
        now = audience.follow_state(resources.app_context(), actor, resources.protocols())
        if _shown(now) != shown:
            st.rerun()
    st.caption("Live: this page follows the chair's screen.")


def _answer_key(follow: FollowState, question_id: str) -> str:
    return f"follow_{follow.item_id}_{question_id}"


def _answer_form(actor: Actor, follow: FollowState) -> None:
    if follow.committed:
        st.success("Committed. You can change your answers until the trainee's read is shown.")
    with st.form(f"follow_answers_{follow.item_id}"):
        st.markdown("**What do you see?**")
        for question in follow.protocol.questions:
            values = list(question.allowed_values)
            mine = follow.my_answers.get(question.id)
            st.radio(
                question.text,
                values,
                index=values.index(mine) if mine in values else None,
                format_func=lambda v, q=question: answer_text(q, v),
                horizontal=True,
                key=_answer_key(follow, question.id),
            )
        label = "Update my answers" if follow.committed else "Commit my answers"
        submitted = st.form_submit_button(label, type="primary", width="stretch")
    if submitted:
        answers = {
            q.id: value
            for q in follow.protocol.questions
            if isinstance(value := st.session_state.get(_answer_key(follow, q.id)), str)
        }
        with reported_errors():
            audience.commit_answers(
                resources.app_context(), actor, follow.item_id, answers, resources.protocols()
            )
            st.rerun()


def _my_answers(follow: FollowState) -> None:
    if not follow.my_answers:
        st.info("You did not commit answers for this case.")
        return
    if not follow.expert_answers:
        st.markdown("**Your committed answers**")
        st.markdown(
            "\n".join(
                f"- {plain(q.text)} **{plain(answer_text(q, follow.my_answers.get(q.id)))}**"
                for q in follow.protocol.questions
            )
        )
        st.caption("The expert's read comes next.")
        return
    st.markdown("**Your answers beside the expert's**")
    st.markdown(
        comparison_lines(follow.protocol, "You", follow.my_answers, "expert", follow.expert_answers)
    )


def _case(actor: Actor, follow: FollowState) -> None:
    st.subheader(f"Case {follow.position} of {follow.total} · {plain(follow.protocol.name)}")
    st.caption(f"{plain(follow.trainee_label)}'s scan · step: {follow.step.title}")
    st.text(
        f"Age band: {follow.age_band or 'not recorded'} · Sex: {follow.sex or 'not recorded'}\n"
        f"Indication: {follow.indication or 'not recorded'}"
    )
    if follow.answers_open:
        _answer_form(actor, follow)
        return
    if follow.step == RevealStep.TRAINEE_READ:
        st.info("Answers are closed: the trainee's read is on screen.")
    _my_answers(follow)


def render() -> None:
    actor = state.require_actor()
    st.title("Follow")
    follow: FollowState | None = None
    with reported_errors():
        follow = audience.follow_state(resources.app_context(), actor, resources.protocols())
    _watch(actor, _shown(follow))
    if follow is None:
        st.info("No meeting is live. This page updates by itself when the chair starts one.")
        return
    _case(actor, follow)
