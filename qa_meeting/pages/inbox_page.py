"""Inbox: scans with filters, and upload of DICOM files or a zip by drag and drop."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qa_meeting.domain.discordance import StudyCategory, category_label
from qa_meeting.services import ingest, scans, users
from qa_meeting.services.context import Actor
from qa_meeting.store.models import Role, StudyStatus
from qa_meeting.store.repository import StudyFilter
from qa_meeting.ui import links, resources, state

_ANY = "Any"
_STATUS_LABELS = {
    StudyStatus.AWAITING_READ.value: "Awaiting trainee read",
    StudyStatus.AWAITING_OVERREAD.value: "Awaiting over-read",
    StudyStatus.REVIEWED.value: "Reviewed",
}


def _filters(actor: Actor) -> StudyFilter:
    ctx = resources.app_context()
    protocol_names = {pid: p.name for pid, p in resources.protocols().items()}
    columns = st.columns(4)
    protocol = columns[0].selectbox(
        "Protocol",
        [_ANY, *protocol_names],
        format_func=lambda v: protocol_names.get(v, v),
        key="inbox_protocol",
    )
    operator_id: int | None = None
    if scans.is_staff(actor):
        trainees = {u.id: u.display_name for u in users.users_by_role(ctx, Role.TRAINEE.value)}
        chosen = columns[1].selectbox(
            "Trainee",
            [0, *trainees],
            format_func=lambda v: trainees.get(v, _ANY),
            key="inbox_trainee",
        )
        operator_id = chosen or None
    status = columns[2].selectbox(
        "Status",
        [_ANY, *_STATUS_LABELS],
        format_func=lambda v: _STATUS_LABELS.get(v, v),
        key="inbox_status",
    )
    discordance = columns[3].selectbox(
        "Discordance",
        [_ANY, *(c.value for c in StudyCategory)],
        format_func=lambda v: v if v == _ANY else category_label(StudyCategory(v)),
        key="inbox_discordance",
    )
    return StudyFilter(
        protocol_id=None if protocol == _ANY else protocol,
        operator_id=operator_id,
        status=None if status == _ANY else status,
        discordance=None if discordance == _ANY else discordance,
    )


def _scan_table(actor: Actor, filters: StudyFilter) -> None:
    rows = scans.list_scans(resources.app_context(), actor, filters)
    if not rows:
        st.info("No scans match these filters.")
        return
    protocol_names = {pid: p.name for pid, p in resources.protocols().items()}
    frame = pd.DataFrame(
        {
            "Scan": [r.study_id for r in rows],
            "Protocol": [protocol_names.get(r.protocol_id or "", "not set") for r in rows],
            "Operator": [r.operator for r in rows],
            "Scanned": [r.scanned_on for r in rows],
            "Status": [_STATUS_LABELS.get(r.status, r.status) for r in rows],
            "Discordance": [
                category_label(StudyCategory(r.discordance)) if r.discordance else "" for r in rows
            ],
            "Clips": [r.clips for r in rows],
            "Flags": [
                " ".join(
                    label
                    for label, on in (
                        ("interesting", r.flagged_interesting),
                        ("good spot", r.flagged_good_spot),
                    )
                    if on
                )
                for r in rows
            ],
        }
    )
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="inbox_table",
    )
    selected = event.selection.rows if event is not None else []
    st.caption(f"{len(rows)} scans. Select a row to open it in Review.")
    if selected and st.button("Open in Review", type="primary", icon=":material/rate_review:"):
        study_id = int(frame.iloc[selected[0]]["Scan"])
        state.select_study(study_id)
        links.go_to("review", study=str(study_id))


def _upload(actor: Actor) -> None:
    with st.expander("Upload DICOM files or a zip", icon=":material/upload:"):
        with st.form("upload", clear_on_submit=True):
            files = st.file_uploader(
                "Drag and drop DICOM files (any name) or a .zip of a study folder",
                accept_multiple_files=True,
            )
            submitted = st.form_submit_button("Store the files", type="primary")
        if submitted and files:
            ctx = resources.app_context()
            progress = st.progress(0.0, text="Storing...")
            results = []
            for index, upload in enumerate(files, start=1):
                results.extend(ingest.ingest_upload(ctx, upload.name, upload, actor=actor))
                progress.progress(index / len(files), text=f"{index} of {len(files)} files")
            progress.empty()
            st.session_state[state.UPLOAD_RESULTS] = [r.to_json() for r in results]
        results_json = st.session_state.get(state.UPLOAD_RESULTS)
        if results_json:
            st.dataframe(
                pd.DataFrame(results_json)[["path", "status", "reason"]],
                hide_index=True,
                width="stretch",
            )


def render() -> None:
    actor = state.require_actor()
    st.title("Inbox")
    filters = _filters(actor)
    _scan_table(actor, filters)
    _upload(actor)
