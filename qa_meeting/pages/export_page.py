"""Export to bank: cases approved in meetings, on their way to the image bank with a human check.

The chair prepares an export (the text is scanned for identifiers and every loop is cleaned).
A text warning is fixed where the text was written (Review, or the meeting's teaching points)
or, by the chair only, overridden with a reason. A loop without region information waits for an
expert to drag the keep-rectangle on one of its frames (the original's frame: it stays in the
hospital's app). Then someone who looked at every contact sheet confirms, and the package is
published; the chair may push it on to a DICOMweb image bank.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa_meeting.domain.deid import Rect
from qa_meeting.services import export, media, scans
from qa_meeting.services.context import Actor
from qa_meeting.services.dicomweb import PushReport
from qa_meeting.services.export import ApprovedCase, ClipState, ExportView
from qa_meeting.services.meeting_queue import CHAIR_ROLES
from qa_meeting.store.models import ExportStatus
from qa_meeting.ui import links, resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import export_widgets as widgets
from qa_meeting.ui.widgets.mask_drawer import mask_drawer

CASE = "export_study"
_PUSHED = "export_pushed_{}"  # the last push report per export, this session


def _cases_table(rows: list[ApprovedCase]) -> None:
    st.dataframe(
        pd.DataFrame(
            {
                "Scan": [r.study_id for r in rows],
                "Meeting": [f"{r.held_on:%d %b %Y}" if r.held_on else r.meeting_id for r in rows],
                "Protocol": [r.protocol_name for r in rows],
                "Case": [r.title for r in rows],
                "Export": [widgets.status_label(r.export_status) for r in rows],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def _prepare(actor: Actor, case: ApprovedCase, label: str) -> None:
    """The chair's button that (re)scans the text and cleans the loops."""
    if actor.role not in CHAIR_ROLES:
        st.caption("The chair prepares exports.")
        return
    if st.button(label, key=f"export_prepare_{case.study_id}", icon=":material/cleaning_services:"):
        with st.spinner("Checking the text and cleaning every loop…"), reported_errors():
            export.start_export(
                resources.app_context(), actor, case.study_id, meeting_id=case.meeting_id
            )
            st.rerun()


def _text_hits(actor: Actor, view: ExportView) -> None:
    st.subheader("Identifiers in the text")
    widgets.hits_table(view.text_hits)
    if view.text_override:
        st.info("The chair overrode these warnings. Their reason:")
        st.text(view.override_reason)
        return
    st.markdown(
        "Edit the text where it was written: the indication and the reads on **Review**, the "
        "teaching points in the meeting. Then check the export again."
    )
    if st.button("Edit this scan on Review", key=f"export_edit_{view.id}", icon=":material/edit:"):
        links.go_to("review", study=str(view.study_id))
    if actor.role not in CHAIR_ROLES:
        return
    with st.form(f"export_override_{view.id}", clear_on_submit=True):
        reason = st.text_area(
            "Or override: why these warnings are harmless (required; do not repeat the text)",
            max_chars=500,
        )
        submitted = st.form_submit_button("Override the warnings", icon=":material/gpp_maybe:")
    if submitted:
        if not reason.strip():
            st.warning("Give the reason for overriding the warnings.")
            return
        with reported_errors():
            export.override_text(resources.app_context(), actor, view.id, reason=reason)
            st.rerun()


def _mask(actor: Actor, view: ExportView, clip: ClipState) -> None:
    st.subheader(f"Loop {clip.number}: draw the keep-rectangle")
    if clip.reason:
        st.caption(clip.reason)
    ctx = resources.app_context()
    frame = media.key_frame(ctx, actor, clip.clip_id, max(clip.frames // 2, 0))
    saved = Rect(*clip.mask) if clip.mask else None
    rect = mask_drawer(
        frame.read_bytes(),
        key=f"export_mask_{view.id}_{clip.clip_id}",
        rows=clip.rows,
        columns=clip.columns,
        saved=saved,
    )
    if rect is not None:
        with st.spinner("Cleaning the loop with this rectangle…"):
            export.set_mask(ctx, actor, view.id, clip.clip_id, rect)
        st.rerun()


def _sheet_title(clip: ClipState) -> str:
    view = f" · view {clip.view}" if clip.view else ""
    method = {"regions": "ultrasound regions", "rule": "scanner rule", "mask": "keep-rectangle"}
    return (
        f"Loop {clip.number}{view} · kept by {method.get(clip.method, clip.method)} · "
        f"{clip.distinct_frames} distinct of {clip.frames} frame(s)"
    )


def _confirm(actor: Actor, view: ExportView) -> None:
    st.subheader("Look at every frame before it leaves")
    complete = widgets.contact_sheets([(_sheet_title(c), c.contact_sheet) for c in view.clips])
    confirmed = st.checkbox(
        widgets.CONFIRM_LABEL, key=f"export_confirm_{view.id}", disabled=not complete
    )
    publish = st.button(
        "Publish to the bank",
        key=f"export_publish_{view.id}",
        type="primary",
        icon=":material/publish:",
        disabled=not confirmed,
    )
    if publish and not confirmed:
        st.warning("Tick the box once you have looked at every frame.")
    elif publish:
        with st.spinner("Writing and verifying the package…"), reported_errors():
            export.confirm_and_publish(
                resources.app_context(), actor, view.id, looked_at_every_frame=confirmed
            )
            st.rerun()


def _published(actor: Actor, view: ExportView) -> None:
    st.success(view.message)
    st.text(f"Package: {view.package_id}")
    st.text(f"Folder: {view.package_path}")
    if view.published_at:
        st.caption(f"Published {view.published_at:%d %b %Y %H:%M} UTC.")
    if actor.role not in CHAIR_ROLES:
        return
    key = _PUSHED.format(view.id)
    if st.button(
        "Push to the DICOMweb image bank",
        key=f"export_push_{view.id}",
        icon=":material/cloud_upload:",
    ):
        with st.spinner("Sending the loops and the teaching-file manifest…"), reported_errors():
            st.session_state[key] = export.push_export(resources.app_context(), actor, view.id)
    report = st.session_state.get(key)
    if isinstance(report, PushReport):
        widgets.push_report(report)


def _export_panel(actor: Actor, case: ApprovedCase) -> None:
    if case.export_id is None:
        st.info("Not prepared yet.")
        _prepare(actor, case, "Prepare export")
        return
    view = export.export_view(resources.app_context(), actor, case.export_id)
    st.markdown(f"**Export {view.id}** · {widgets.status_label(view.status)}")
    if view.status is ExportStatus.PUBLISHED:
        _published(actor, view)
        return
    if view.status is ExportStatus.FAILED:
        st.error(view.message)
        _prepare(actor, case, "Prepare the export again")
        return
    (st.warning if view.status is ExportStatus.BLOCKED else st.info)(view.message)
    if view.text_hits:
        _text_hits(actor, view)
    for clip in view.clips:
        if clip.status == "needs_mask":
            with reported_errors():
                _mask(actor, view, clip)
    if view.status is ExportStatus.AWAITING_CONFIRMATION:
        _confirm(actor, view)
    _prepare(actor, case, "Check the export again")


def render() -> None:
    actor = state.require_actor()
    st.title("Export to bank")
    if not scans.is_staff(actor):
        st.info("Exports to the image bank are for experts and the chair.")
        st.page_link(
            links.page("bank"), label="Browse the image bank", icon=":material/photo_library:"
        )
        return
    with reported_errors():
        rows = export.approved_cases(resources.app_context(), actor)
        if not rows:
            st.info(
                "No case has been approved for the image bank yet: the chair approves one "
                "when recording a meeting's consensus."
            )
            return
        _cases_table(rows)
        labels = {r.study_id: f"Scan {r.study_id} · {r.title}" for r in rows}
        chosen = st.selectbox("Case", list(labels), format_func=labels.__getitem__, key=CASE)
        case = next(r for r in rows if r.study_id == chosen)
        _export_panel(actor, case)
