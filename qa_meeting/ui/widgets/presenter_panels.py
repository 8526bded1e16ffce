"""What the room sees at each reveal step, and the agenda strip.

The operator is only ever the meeting's pseudonym ("Trainee A"); the patient only the
de-identified context. Free text typed by users (indication, reasoning, reasons for missing
views) goes through ``st.text``; Markdown carries only configuration and our own words.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import streamlit as st

from qa_meeting.domain.discordance import category_label
from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import IMAGE_QUALITY_SCALE, StructuredRead
from qa_meeting.services.presenter import AgendaRow, PresenterCase
from qa_meeting.ui.widgets.agreement import (
    CATEGORY_COLOURS,
    answer_text,
    comparison_markdown,
    plain,
)

_OUTCOME_MARKS = MappingProxyType({"presented": " ✓", "deferred": " ↷", "pending": ""})


def context_panel(case: PresenterCase, *, large: bool) -> None:
    """Step 0: the de-identified clinical context (never the operator's name)."""
    if not large:
        st.caption(
            f"{plain(case.protocol.name)} · age {plain(case.age_band or 'not recorded')} · "
            f"{plain(case.sex or 'sex not recorded')}"
        )
        st.text(f"Indication: {case.indication or 'not recorded'}")
        return
    st.markdown(f"## {plain(case.protocol.name)}")
    age, sex = st.columns(2)
    age.metric("Age band", case.age_band or "not recorded")
    sex.metric("Sex", case.sex or "not recorded")
    st.markdown("**Indication**")
    st.text(case.indication or "not recorded")


def questions_panel(protocol: Protocol) -> None:
    """Step 1: the protocol's questions, for the room to answer on the Follow page."""
    st.markdown("## What do you see?")
    st.markdown(
        "\n".join(
            f"- **{plain(q.text)}** {plain(' / '.join(a.label for a in q.answers))}"
            for q in protocol.questions
        )
    )
    st.caption("Commit your answers on the Follow page before the trainee's read is shown.")


def _read_details(read: StructuredRead, protocol: Protocol) -> None:
    core = [v for v in protocol.core_views if v.id in read.views_obtained]
    views = ", ".join(protocol.view(v).label for v in sorted(read.views_obtained)) or "none"
    st.markdown(
        f"**Views obtained** {plain(views)} ({len(core)} of {len(protocol.core_views)} core views)"
    )
    for view_id, reason in read.missing_view_reasons.items():
        st.text(f"Not obtained, {protocol.view(view_id).label}: {reason}")
    if read.image_quality:
        st.markdown(
            f"**Image quality** {read.image_quality} of 5: "
            f"{plain(IMAGE_QUALITY_SCALE[read.image_quality])}"
        )
    if read.confidence:
        st.markdown(f"**Confidence** {plain(read.confidence.value)}")
    if read.reasoning:
        st.markdown("**Reasoning**")
        st.text(read.reasoning)


def trainee_read_panel(case: PresenterCase) -> None:
    """Step 2: the trainee's read, under the meeting's pseudonym."""
    st.markdown(f"## {plain(case.trainee_label)}'s read")
    read = case.trainee_read
    if read is None:
        st.info("No trainee read was recorded for this scan.")
        return
    st.markdown(
        "\n".join(
            [
                "| Question | Answer |",
                "|---|---|",
                *(
                    f"| {plain(q.text)} | {plain(answer_text(q, read.answers.get(q.id)))} |"
                    for q in case.protocol.questions
                ),
            ]
        )
    )
    _read_details(read, case.protocol)


def expert_read_panel(case: PresenterCase) -> None:
    """Step 3: the expert's read question by question beside the trainee's."""
    st.markdown("## The expert's read")
    expert = case.expert_read
    if expert is None:
        st.info("No expert over-read was recorded for this scan.")
        return
    trainee_answers = case.trainee_read.answers if case.trainee_read else {}
    st.markdown(
        comparison_markdown(
            case.protocol, case.trainee_label, trainee_answers, "Expert", expert.answers
        )
    )
    _read_details(expert, case.protocol)


def classification_panel(case: PresenterCase) -> None:
    """Step 4: the automatic classification (the consensus form follows it)."""
    st.markdown("## Classification and outcome")
    result = case.discordance
    if result is None:
        st.info("Both reads are needed for an automatic classification.")
        return
    colour = CATEGORY_COLOURS.get(result.category.value, "gray")
    st.markdown(f"**Automatic classification** :{colour}-badge[{category_label(result.category)}]")
    texts = {q.id: plain(q.text) for q in case.protocol.questions}
    if result.major_differences:
        st.markdown(
            "**Major differences** " + "; ".join(texts[q] for q in result.major_differences)
        )
    if result.minor_differences:
        st.markdown(
            "**Minor differences** " + "; ".join(texts[q] for q in result.minor_differences)
        )
    flags = []
    if result.technically_limited:
        flags.append("technically limited")
    if result.incomplete_documentation:
        flags.append("incomplete documentation")
    if flags:
        st.markdown(f"**Also** {', '.join(flags)}")
    for gap in result.documentation_gaps:
        st.text(f"Documentation: {gap}")


def _strip_label(row: AgendaRow) -> str:
    mark = _OUTCOME_MARKS.get(row.outcome, "")
    return f"{row.position} · {row.protocol} · {row.trainee_label} · {row.planned_minutes}′{mark}"


def agenda_strip(case: PresenterCase, on_choose: Callable[[int], None]) -> None:
    """Every case of the agenda, the current one selected; choosing another jumps to it."""
    labels = {row.item_id: _strip_label(row) for row in case.agenda}
    key = f"agenda_strip_{case.item_id}"  # a new key per case: the strip follows navigation

    def chosen() -> None:
        item_id = st.session_state.get(key)
        if isinstance(item_id, int) and item_id != case.item_id:
            on_choose(item_id)

    st.segmented_control(
        "Agenda",
        list(labels),
        default=case.item_id,
        format_func=labels.__getitem__,
        key=key,
        on_change=chosen,
        label_visibility="collapsed",
        width="stretch",
    )
    st.caption("✓ presented · ↷ deferred · minutes planned per case")
