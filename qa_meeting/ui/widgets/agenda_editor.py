"""The agenda builder's draft: proposed from the queue, edited in a table, with its reasons.

The draft lives in session state (a frozen dataclass); the table (``st.data_editor``) lets the
chair reorder, re-time and remove cases; left-out cases can be added back. Operators appear
only as the meeting's pseudonyms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from qa_meeting.domain.agenda import CaseMinutes, QueueEntry, build_agenda
from qa_meeting.domain.meeting import trainee_pseudonyms
from qa_meeting.domain.protocols import Protocol
from qa_meeting.services.meetings import PlannedCase

_DRAFT = "agenda_draft"
_READ_ONLY = ["Scan", "Protocol", "Trainee", "Why chosen"]


@dataclass(frozen=True)
class DraftCase:
    study_id: int
    protocol: str
    trainee: str  # the pseudonym, "Trainee A"
    planned_minutes: int
    reason: str
    nomination_reason: str

    def planned(self) -> PlannedCase:
        return PlannedCase(self.study_id, self.planned_minutes, self.reason, self.nomination_reason)


@dataclass(frozen=True)
class Draft:
    slot_minutes: int
    cases: tuple[DraftCase, ...]
    left_out: tuple[tuple[DraftCase, str], ...]
    notes: tuple[str, ...]
    version: int  # part of the table's key: a new draft starts a fresh table


def propose(
    entries: Sequence[QueueEntry], slot_minutes: int, protocols: Mapping[str, Protocol]
) -> Draft:
    """Build the agenda for the slot and keep it as the session's draft."""
    agenda = build_agenda(entries, slot_minutes)
    by_id = {entry.study_id: entry for entry in entries}
    order = [c.study_id for c in agenda.choices] + [study_id for study_id, _ in agenda.left_out]
    names = trainee_pseudonyms(by_id[study_id].trainee_id for study_id in order)

    def case(study_id: int, reason: str, minutes: int | None = None) -> DraftCase:
        entry = by_id[study_id]
        protocol = protocols.get(entry.protocol_id)
        return DraftCase(
            study_id=study_id,
            protocol=protocol.name if protocol else entry.protocol_id,
            trainee=names.get(entry.trainee_id or -1, "Trainee"),
            planned_minutes=minutes or entry.planned_minutes(CaseMinutes()),
            reason=reason,
            nomination_reason=entry.reason.value,
        )

    previous = current_draft()
    draft = Draft(
        slot_minutes=slot_minutes,
        cases=tuple(case(c.study_id, c.reason, c.planned_minutes) for c in agenda.choices),
        left_out=tuple((case(s, "Added by the chair"), why) for s, why in agenda.left_out),
        notes=agenda.notes,
        version=previous.version + 1 if previous else 1,
    )
    st.session_state[_DRAFT] = draft
    return draft


def current_draft() -> Draft | None:
    draft = st.session_state.get(_DRAFT)
    return draft if isinstance(draft, Draft) else None


def discard_draft() -> None:
    st.session_state.pop(_DRAFT, None)


def edited_cases(draft: Draft) -> list[DraftCase]:
    """The table of the draft; returns the cases as edited, in the order chosen."""
    frame = pd.DataFrame(
        {
            "Order": list(range(1, len(draft.cases) + 1)),
            "Scan": [c.study_id for c in draft.cases],
            "Protocol": [c.protocol for c in draft.cases],
            "Trainee": [c.trainee for c in draft.cases],
            "Minutes": [c.planned_minutes for c in draft.cases],
            "Why chosen": [c.reason for c in draft.cases],
        }
    )
    edited = st.data_editor(
        frame,
        key=f"agenda_editor_{draft.version}",
        num_rows="delete",
        hide_index=True,
        disabled=_READ_ONLY,
        width="stretch",
        column_config={
            "Order": st.column_config.NumberColumn(min_value=1, step=1, required=True),
            "Minutes": st.column_config.NumberColumn(
                "Planned minutes", min_value=1, max_value=60, step=1, required=True
            ),
            "Why chosen": st.column_config.TextColumn(width="large"),
        },
    )
    by_id = {c.study_id: c for c in draft.cases}
    ordered = edited.assign(Order=edited["Order"].fillna(len(frame) + 1)).sort_values(
        "Order", kind="stable"
    )
    return [
        replace(by_id[int(scan)], planned_minutes=int(minutes))
        for scan, minutes in zip(ordered["Scan"], ordered["Minutes"], strict=True)
    ]


def with_added(draft: Draft, cases: Sequence[DraftCase], study_ids: Sequence[int]) -> Draft:
    """The draft with its edited cases and some left-out cases added at the end."""
    adding = [case for case, _ in draft.left_out if case.study_id in study_ids]
    new = replace(
        draft,
        cases=(*cases, *adding),
        left_out=tuple((c, why) for c, why in draft.left_out if c.study_id not in study_ids),
        version=draft.version + 1,
    )
    st.session_state[_DRAFT] = new
    return new


def left_out_table(draft: Draft) -> None:
    """The cases the proposal left out, and why."""
    st.dataframe(
        pd.DataFrame(
            {
                "Scan": [c.study_id for c, _ in draft.left_out],
                "Protocol": [c.protocol for c, _ in draft.left_out],
                "Trainee": [c.trainee for c, _ in draft.left_out],
                "Minutes": [c.planned_minutes for c, _ in draft.left_out],
                "Why left out": [why for _, why in draft.left_out],
            }
        ),
        hide_index=True,
        width="stretch",
    )


def minutes_summary(cases: Sequence[DraftCase], slot_minutes: int) -> None:
    """Total planned minutes against the slot."""
    total = sum(c.planned_minutes for c in cases)
    left, right = st.columns([1, 3], vertical_alignment="center")
    left.metric("Planned", f"{total} of {slot_minutes} min", border=True)
    right.progress(min(total / slot_minutes, 1.0), text=f"{len(cases)} case(s)")
    if total > slot_minutes:
        st.warning(f"The agenda runs {total - slot_minutes} minutes over the slot.")
