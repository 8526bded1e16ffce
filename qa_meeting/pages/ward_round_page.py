"""Ward round: a consultant's two-minute over-read of a recent scan, built for a phone.

One column, top to bottom: pick a scan, glance at the loop, tap an answer to each question,
one line of reasoning, "For the QA meeting" / "Good spot", save. The form batches the taps and
the typing, so nothing reruns until the consultant saves; afterwards the next scan awaiting an
over-read is ready.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from qa_meeting.domain.deid import NeedsMaskError
from qa_meeting.domain.protocols import Protocol
from qa_meeting.services import media, scans, ward_round
from qa_meeting.services.context import Actor
from qa_meeting.ui import resources
from qa_meeting.ui import state as app_state
from qa_meeting.ui.feedback import reported_errors

SCAN_KEY = "ward_round_scan"
NEXT_AFTER_KEY = "ward_round_saved_study"  # set after saving: move on from this scan
DONE_KEY = "ward_round_confirmation"
THUMBNAIL_WIDTH = 240


def _when(days: int | None) -> str:
    if days is None:
        return "date unknown"
    return {0: "today", 1: "yesterday"}.get(days, f"{days} days ago")


def _status(scan: ward_round.RecentScan) -> str:
    if scan.awaiting_overread:
        return "To over-read"
    return "Over-read" if scan.expert_answers else "No trainee read yet"


def _label(scan: ward_round.RecentScan, today: date) -> str:
    """One short line per scan: a phone shows about 40 characters of it."""
    views = scan.views[0] if len(scan.views) == 1 else f"{len(scan.views)} views"
    parts = [
        _status(scan),
        _when(scan.days_ago(today)),
        scan.protocol_title,
        scan.age_band or "age not recorded",
        scan.trainee_label,
        views if scan.views else "view not set",
    ]
    return " · ".join(parts)


def _move_on(rows: list[ward_round.RecentScan]) -> None:
    """Before the picker exists: after a save, select the next scan awaiting its over-read."""
    saved = st.session_state.pop(NEXT_AFTER_KEY, None)
    if saved is None:
        return
    waiting = [r.study_id for r in rows if r.awaiting_overread and r.study_id != saved]
    st.session_state[SCAN_KEY] = waiting[0] if waiting else rows[0].study_id


def _pick(rows: list[ward_round.RecentScan]) -> ward_round.RecentScan:
    _move_on(rows)
    by_id = {r.study_id: r for r in rows}
    if st.session_state.get(SCAN_KEY) not in by_id:
        st.session_state[SCAN_KEY] = rows[0].study_id
    today = date.today()
    chosen = st.selectbox(
        "1. Scan",
        list(by_id),
        format_func=lambda study_id: _label(by_id[study_id], today),
        key=SCAN_KEY,
    )
    return by_id[chosen]


def _loop(actor: Actor, scan: ward_round.RecentScan) -> None:
    """A small still of the loop and the loop itself, burned-in details blanked where possible."""
    if not scan.clip_ids:
        st.caption("This scan has no loops.")
        return
    ctx = resources.app_context()
    with st.spinner("Preparing the loop"):
        try:
            shown = media.clip_media(ctx, actor, scan.clip_ids[0], anonymised=True)
            note = ""
        except NeedsMaskError:
            shown = media.clip_media(ctx, actor, scan.clip_ids[0])
            note = "Shown as stored: this machine's burned-in details cannot be blanked."
    st.image(str(shown.thumbnail_path), width=THUMBNAIL_WIDTH)
    if note:
        st.caption(note)
    with st.expander("Play the loop", icon=":material/play_circle:"):
        st.video(str(shown.video_path), loop=True, autoplay=True, muted=True)


def _form(actor: Actor, scan: ward_round.RecentScan, protocol: Protocol) -> None:
    key = f"ward_round_{scan.study_id}"
    with st.form(key, border=False):
        st.markdown("**2. Your read**")
        answers: dict[str, str] = {}
        for question in protocol.questions:
            labels = {a.value: a.label for a in question.answers}
            chosen = st.pills(
                question.text,
                list(labels),
                format_func=labels.__getitem__,
                default=scan.expert_answers.get(question.id),
                key=f"{key}_{question.id}",
            )
            if chosen:
                answers[question.id] = chosen
        reasoning = st.text_input(
            "3. Reasoning, one line",
            max_chars=ward_round.MAX_REASONING,
            placeholder="What you saw and what it means",
            key=f"{key}_reasoning",
        )
        for_meeting = st.toggle(
            "For the QA meeting", value=scan.flagged_for_meeting, key=f"{key}_meeting"
        )
        good_spot = st.toggle("Good spot", value=scan.flagged_good_spot, key=f"{key}_good_spot")
        if st.form_submit_button("Save the over-read", type="primary", width="stretch"):
            with reported_errors():
                result = ward_round.record_ward_round(
                    resources.app_context(),
                    actor,
                    scan.study_id,
                    answers,
                    reasoning,
                    for_meeting=for_meeting,
                    good_spot=good_spot,
                    protocols=resources.protocols(),
                )
                st.session_state[DONE_KEY] = (
                    f"Over-read saved. {result.category_text}; {result.queue_text}."
                )
                st.session_state[NEXT_AFTER_KEY] = scan.study_id
                st.rerun()


def render() -> None:
    actor = app_state.require_actor()
    st.title("Ward round")
    if not scans.is_staff(actor):
        st.info("The ward round is for experts, chairs and administrators reviewing scans.")
        return
    confirmation = st.session_state.pop(DONE_KEY, None)
    if confirmation:
        st.success(confirmation, icon=":material/check_circle:")
    rows: list[ward_round.RecentScan] = []
    with reported_errors():
        rows = ward_round.recent_scans(resources.app_context(), actor, resources.protocols())
    if not rows:
        st.info(f"No scans of the last {ward_round.RECENT_DAYS} days for you to over-read.")
        return
    scan = _pick(rows)
    protocol = resources.protocols().get(scan.protocol_id)
    if protocol is None:
        st.warning(f"The protocol {scan.protocol_id!r} of this scan is not loaded.")
        return
    _loop(actor, scan)
    _form(actor, scan, protocol)
