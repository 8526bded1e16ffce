"""Review: the scan's details, the trainee's read, the expert over-read and the discordance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa_meeting.domain.discordance import DiscordanceResult, category_label, outcome_label
from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import IMAGE_QUALITY_SCALE, StructuredRead
from qa_meeting.services import review, scans, users
from qa_meeting.services.context import Actor
from qa_meeting.store.models import ReadKind, Role
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets.clip_viewer import clip_viewer
from qa_meeting.ui.widgets.read_form import read_form

_CATEGORY_COLOURS = {
    "concordant": "green",
    "discordant_minor": "orange",
    "discordant_major": "red",
    "technically_limited": "gray",
    "incomplete_documentation": "violet",
}


def _choose_study(actor: Actor) -> int | None:
    from_url = st.query_params.get("study")
    if from_url and from_url.isdigit():
        state.select_study(int(from_url))
    rows = scans.list_scans(resources.app_context(), actor)
    if not rows:
        st.info("No scans to review yet. Upload DICOM files on the Inbox page.")
        return None
    ids = [r.study_id for r in rows]
    labels = {
        r.study_id: f"Scan {r.study_id} · {r.protocol_id or 'protocol not set'}" for r in rows
    }
    selected = state.selected_study()
    chosen = st.selectbox(
        "Scan",
        ids,
        index=ids.index(selected) if selected in ids else 0,
        format_func=labels.__getitem__,
    )
    if chosen != selected:
        state.select_study(chosen)
        st.query_params["study"] = str(chosen)
    return chosen


def _details_form(actor: Actor, view: review.ReviewView) -> None:
    ctx = resources.app_context()
    protocols = resources.protocols()
    details = view.details
    with st.form("details"):
        protocol_ids = list(protocols)
        protocol_id = st.selectbox(
            "Protocol",
            protocol_ids,
            index=protocol_ids.index(details.protocol_id)
            if details.protocol_id in protocol_ids
            else None,
            format_func=lambda pid: protocols[pid].name,
        )
        operator_id = details.operator_id
        if scans.is_staff(actor):
            trainees = {u.id: u.display_name for u in users.users_by_role(ctx, Role.TRAINEE.value)}
            options = [0, *trainees]
            operator_id = (
                st.selectbox(
                    "Operator (trainee)",
                    options,
                    index=options.index(details.operator_id or 0),
                    format_func=lambda v: trainees.get(v, "unassigned"),
                )
                or None
            )
        left, right = st.columns(2)
        age_band = left.selectbox(
            "Age band",
            ["", *review.AGE_BANDS],
            index=(["", *review.AGE_BANDS]).index(details.age_band),
        )
        sex = right.selectbox(
            "Sex", ["", *review.SEXES], index=(["", *review.SEXES]).index(details.sex)
        )
        indication = st.text_input(
            "Indication (no names, numbers or dates)", value=details.indication, max_chars=300
        )
        if st.form_submit_button("Save details"):
            with reported_errors():
                review.update_details(
                    ctx,
                    actor,
                    view.study_id,
                    review.StudyDetails(protocol_id, operator_id, age_band, sex, indication),
                    protocols,
                )
                st.toast("Details saved.")
                st.rerun()


def _flags_form(actor: Actor, view: review.ReviewView) -> None:
    with st.form("flags"):
        interesting = st.checkbox("Interesting: show at the QA meeting", view.flagged_interesting)
        good_spot = st.checkbox("Good spot: celebrate at the QA meeting", view.flagged_good_spot)
        if st.form_submit_button("Save flags"):
            with reported_errors():
                review.set_flags(
                    resources.app_context(),
                    actor,
                    view.study_id,
                    interesting=interesting,
                    good_spot=good_spot,
                    protocols=resources.protocols(),
                )
                st.rerun()


def _show_read(read: StructuredRead, protocol: Protocol) -> None:
    views = ", ".join(protocol.view(v).label for v in sorted(read.views_obtained)) or "none"
    st.text(f"Views obtained: {views}")
    for view_id, reason in read.missing_view_reasons.items():
        st.text(f"Not obtained, {protocol.view(view_id).label}: {reason}")
    for question in protocol.questions:
        value = read.answers.get(question.id)
        st.text(f"{question.text} {question.answer(value).label if value else 'not answered'}")
    if read.image_quality:
        st.text(f"Image quality {read.image_quality}: {IMAGE_QUALITY_SCALE[read.image_quality]}")
    if read.confidence:
        st.text(f"Confidence: {read.confidence.value}")
    if read.reasoning:
        st.text(f"Reasoning: {read.reasoning}")


def _read_panel(actor: Actor, view: review.ReviewView, protocol: Protocol, kind: ReadKind) -> None:
    existing = view.trainee_read if kind is ReadKind.TRAINEE else view.expert_read
    may_edit = view.may_edit_trainee_read if kind is ReadKind.TRAINEE else view.may_edit_expert_read
    if may_edit:
        label = "Save the trainee read" if kind is ReadKind.TRAINEE else "Save the over-read"
        entered = read_form(protocol, existing, key=f"read_{kind.value}", submit_label=label)
        if entered is not None:
            with reported_errors():
                review.save_read(
                    resources.app_context(),
                    actor,
                    view.study_id,
                    kind,
                    entered,
                    resources.protocols(),
                )
                st.toast("Read saved.")
                st.rerun()
    elif existing is not None:
        _show_read(existing, protocol)
    else:
        st.caption("Not entered yet.")


def _discordance_panel(
    result: DiscordanceResult, view: review.ReviewView, protocol: Protocol
) -> None:
    colour = _CATEGORY_COLOURS.get(result.category.value, "gray")
    st.markdown(f"### :{colour}-badge[{category_label(result.category)}]")
    assert view.trainee_read is not None and view.expert_read is not None
    trainee, expert = view.trainee_read.answers, view.expert_read.answers
    frame = pd.DataFrame(
        {
            "Question": [q.text for q in protocol.questions],
            "Trainee": [
                q.answer(trainee[q.id]).label if q.id in trainee else "" for q in protocol.questions
            ],
            "Expert": [
                q.answer(expert[q.id]).label if q.id in expert else "" for q in protocol.questions
            ],
            "Outcome": [outcome_label(result.outcomes[q.id]) for q in protocol.questions],
            "Changes management": [q.management_changing for q in protocol.questions],
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    for gap in result.documentation_gaps:
        st.caption(f"Documentation: {gap}")


def render() -> None:
    actor = state.require_actor()
    st.title("Review")
    study_id = _choose_study(actor)
    if study_id is None:
        return
    with reported_errors():
        view = review.get_review(
            resources.app_context(),
            actor,
            study_id,
            resources.protocols(),
            record_view=state.first_view("study", study_id),
        )
        st.caption(
            f"Operator: {view.operator_label} · scanned {view.scanned_on or 'date unknown'} · "
            f"{len(view.clips)} clip(s) · status {view.status.replace('_', ' ')}"
        )
        clip_viewer(actor, view.clips, key=f"review_{view.study_id}")
        with st.expander("Scan details", expanded=view.protocol is None):
            if view.may_edit_details:
                _details_form(actor, view)
            else:
                st.text(f"Indication: {view.details.indication}")
        if scans.is_staff(actor):
            with st.expander("Flags for the QA meeting"):
                _flags_form(actor, view)
        protocol = view.protocol
        if protocol is None:
            st.info("Choose the protocol in the scan details to enter the reads.")
            return
        if view.discordance is not None:
            _discordance_panel(view.discordance, view, protocol)
        trainee_tab, expert_tab = st.tabs(["Trainee read", "Expert over-read"])
        with trainee_tab:
            _read_panel(actor, view, protocol, ReadKind.TRAINEE)
        with expert_tab:
            _read_panel(actor, view, protocol, ReadKind.EXPERT)
