"""A structured-read form built from a protocol's views and questions.

The form batches typing (nothing reruns until "Save"), owns its widget keys under ``key`` and
returns a plain ``StructuredRead`` when submitted, else None.
"""

from __future__ import annotations

import streamlit as st

from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import IMAGE_QUALITY_SCALE, Confidence, StructuredRead


def read_form(
    protocol: Protocol, existing: StructuredRead | None, *, key: str, submit_label: str
) -> StructuredRead | None:
    """Show the form; the read as entered once the user saves it."""
    previous = existing if existing and existing.protocol_id == protocol.id else None
    with st.form(f"{key}_form"):
        st.markdown("**Views**")
        view_labels = {v.id: v.label for v in protocol.views}
        obtained = st.multiselect(
            "Views obtained",
            list(view_labels),
            default=sorted(previous.views_obtained) if previous else [],
            format_func=view_labels.__getitem__,
            key=f"{key}_views",
        )
        reasons: dict[str, str] = {}
        core = protocol.core_views
        if core:
            st.caption(f"Core views: {len(core)}. Give a reason for each core view not obtained.")
            for view in core:
                reasons[view.id] = st.text_input(
                    f"Reason if {view.label} was not obtained",
                    value=previous.missing_view_reasons.get(view.id, "") if previous else "",
                    key=f"{key}_reason_{view.id}",
                )
        st.markdown("**Questions**")
        answers: dict[str, str] = {}
        for question in protocol.questions:
            values = list(question.allowed_values)
            labels = {a.value: a.label for a in question.answers}
            current = previous.answers.get(question.id) if previous else None
            flag = " (changes management)" if question.management_changing else ""
            choice = st.radio(
                f"{question.text}{flag}",
                values,
                index=values.index(current) if current in values else None,
                format_func=labels.__getitem__,
                horizontal=True,
                key=f"{key}_q_{question.id}",
            )
            if choice is not None:
                answers[question.id] = choice
        st.markdown("**Quality and reasoning**")
        quality = st.selectbox(
            "Image quality (ACEP 1-5)",
            list(IMAGE_QUALITY_SCALE),
            index=(previous.image_quality - 1) if previous and previous.image_quality else None,
            format_func=lambda q: f"{q}: {IMAGE_QUALITY_SCALE[q]}",
            key=f"{key}_quality",
        )
        confidence = st.radio(
            "Confidence",
            list(Confidence),
            index=list(Confidence).index(previous.confidence)
            if previous and previous.confidence
            else None,
            format_func=lambda c: c.value.title(),
            horizontal=True,
            key=f"{key}_confidence",
        )
        reasoning = st.text_area(
            "Reasoning (what you saw, and why it leads to your answers)",
            value=previous.reasoning if previous else "",
            key=f"{key}_reasoning",
        )
        submitted = st.form_submit_button(submit_label, type="primary")
    if not submitted:
        return None
    return StructuredRead(
        protocol_id=protocol.id,
        answers=answers,
        views_obtained=frozenset(obtained),
        missing_view_reasons={
            view_id: text.strip()
            for view_id, text in reasons.items()
            if text.strip() and view_id not in obtained
        },
        image_quality=quality,
        confidence=confidence,
        reasoning=reasoning.strip(),
    )
