"""Digest: the de-identified teaching digest of a closed meeting, to read and to e-mail.

Everyone signed in may read it (learning points reach everyone, and nothing in it identifies a
patient or an operator). Built once per meeting and kept in a small cache.
"""

from __future__ import annotations

import streamlit as st

from qa_meeting.services import digest
from qa_meeting.services.context import Actor
from qa_meeting.ui import resources, state
from qa_meeting.ui.feedback import reported_errors
from qa_meeting.ui.widgets import digest_downloads

MEETING_KEY = "digest_meeting"
PREVIEW_HEIGHT = 900


@st.cache_data(max_entries=8, ttl="10m", show_spinner="Building the digest...")
def _files(data_dir: str, meeting_id: int, closed_at: str, _actor: Actor) -> digest.DigestFiles:
    """The meeting's digest as HTML and PDF; keyed by the data folder, the meeting and when it
    was closed (not by the actor: the digest is the same for everyone)."""
    del data_dir, closed_at  # cache key only
    return digest.meeting_digest_files(resources.app_context(), _actor, meeting_id)


def render() -> None:
    actor = state.require_actor()
    st.title("Digest")
    st.caption(
        "The teaching digest of a closed meeting: its cases, key frames, the expert's reasoning, "
        "teaching points, good spots and figures, de-identified. Download it to e-mail to the "
        "department."
    )
    with reported_errors():
        ctx = resources.app_context()
        choices = digest.digest_meetings(ctx, actor)
        if not choices:
            st.info(
                "No meeting has been closed yet. A meeting's digest appears here once the chair "
                "closes it."
            )
            return
        chosen = st.selectbox("Meeting", choices, format_func=lambda m: m.label, key=MEETING_KEY)
        assert chosen is not None
        files = _files(str(ctx.settings.data_dir), chosen.id, chosen.closed_at, actor)
        if files.redactions:
            st.warning(
                f"{files.redactions} passage(s) of free text looked like a name, number or date "
                "and were replaced by [removed]. The chair can correct the source text.",
                icon=":material/visibility_off:",
            )
        name = f"qa-meeting-digest-{chosen.held_on.isoformat()}-meeting-{chosen.id}"
        digest_downloads.show(
            files.html, files.pdf, file_stem=name, html_label="Download HTML (for e-mail)"
        )
        st.subheader(files.title)
        with st.container(height=PREVIEW_HEIGHT):
            st.html(files.html)  # sanitised by Streamlit; the digest holds no script anyway
