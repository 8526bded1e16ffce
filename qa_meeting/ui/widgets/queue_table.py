"""The meeting queue as a table: why each scan is there, and the chair's per-row actions.

The widget owns one session-state key: the action the chair clicked (a callback only records
it); ``take_action`` hands it to the page, which calls the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import streamlit as st

from qa_meeting.domain.nominations import NominationReason
from qa_meeting.domain.protocols import Protocol
from qa_meeting.services.meeting_queue import QueueRow

REASON_WORDS: Mapping[NominationReason, str] = MappingProxyType(
    {
        NominationReason.DISCORDANT_MAJOR: "Discordant (major)",
        NominationReason.DISCORDANT_MINOR: "Discordant (minor)",
        NominationReason.TECHNICALLY_LIMITED: "Technically limited",
        NominationReason.INTERESTING: "Flagged interesting",
        NominationReason.GOOD_SPOT: "Good spot",
        NominationReason.CHAIR_ADDED: "Added by the chair",
    }
)
PIN, UNPIN, DISMISS = "pinned", "queued", "dismissed"  # the queue statuses the chair sets
_ACTION = "queue_action"
_COLUMNS = ("Scan", "Why it is queued", "Protocol", "Operator", "Scanned", "Pinned")


@dataclass(frozen=True)
class QueueAction:
    study_id: int
    status: str  # PIN, UNPIN or DISMISS


def _ask(study_id: int, status: str) -> None:
    st.session_state[_ACTION] = QueueAction(study_id, status)


def take_action() -> QueueAction | None:
    """The per-row action clicked on the last run, once."""
    action = st.session_state.pop(_ACTION, None)
    return action if isinstance(action, QueueAction) else None


def reason_words(row: QueueRow) -> str:
    words = REASON_WORDS.get(row.reason, row.reason.value)
    if row.source == "chair" and row.reason is not NominationReason.CHAIR_ADDED:
        words += " · re-added by the chair"
    return words


def queue_table(
    rows: Sequence[QueueRow], protocols: Mapping[str, Protocol], *, can_change: bool
) -> None:
    """One line per queued scan; with ``can_change``, Pin/Unpin and Dismiss on each line."""
    if not rows:
        st.info("The queue is empty: no scan is waiting for the meeting.")
        return
    widths = [0.7, 2.4, 1.8, 1.8, 1.2, 0.8, *([1.1, 1.1] if can_change else [])]
    for column, title in zip(st.columns(widths), _COLUMNS, strict=False):
        column.markdown(f"**{title}**")
    for row in rows:
        cells = st.columns(widths, vertical_alignment="center")
        cells[0].markdown(f"**{row.study_id}**")
        cells[1].markdown(reason_words(row))
        protocol = protocols.get(row.protocol_id or "")
        cells[2].text(protocol.name if protocol else row.protocol_id or "not set")
        cells[3].text(row.operator)
        cells[4].text(f"{row.scanned_on or ''}")
        cells[5].markdown(":material/push_pin: pinned" if row.pinned else "")
        if can_change:
            cells[6].button(
                "Unpin" if row.pinned else "Pin",
                key=f"queue_pin_{row.study_id}",
                icon=":material/push_pin:",
                on_click=_ask,
                args=(row.study_id, UNPIN if row.pinned else PIN),
                width="stretch",
            )
            cells[7].button(
                "Dismiss",
                key=f"queue_dismiss_{row.study_id}",
                icon=":material/close:",
                on_click=_ask,
                args=(row.study_id, DISMISS),
                width="stretch",
            )
    st.caption(
        f"{len(rows)} scan(s): pinned first, then the strongest reason. "
        "Nominations carry over until the case is presented or dismissed."
    )
