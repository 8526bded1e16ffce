"""The proposed agenda for the current queue, as the chair (and `qa-meeting agenda`) sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qa_meeting.domain.agenda import Agenda, build_agenda
from qa_meeting.domain.meeting import trainee_pseudonyms
from qa_meeting.domain.protocols import Protocol
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meeting_queue import queue_entries
from qa_meeting.services.meetings import PlannedCase


@dataclass(frozen=True)
class ProposedCase:
    position: int
    study_id: int
    planned_minutes: int
    trainee: str  # the meeting pseudonym, "Trainee A"
    protocol: str
    reason: str
    nomination_reason: str

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)

    def planned(self) -> PlannedCase:
        return PlannedCase(self.study_id, self.planned_minutes, self.reason, self.nomination_reason)


@dataclass(frozen=True)
class Proposal:
    agenda: Agenda
    cases: tuple[ProposedCase, ...]


def propose_agenda(
    ctx: AppContext, actor: Actor, slot_minutes: int, protocols: Mapping[str, Protocol]
) -> Proposal:
    """Choose and order cases from the queue for a slot; operators only as pseudonyms."""
    entries = {e.study_id: e for e in queue_entries(ctx, actor, dict(protocols))}
    agenda = build_agenda(list(entries.values()), slot_minutes)
    names = trainee_pseudonyms(entries[c.study_id].trainee_id for c in agenda.choices)
    cases = tuple(
        ProposedCase(
            position=choice.position,
            study_id=choice.study_id,
            planned_minutes=choice.planned_minutes,
            trainee=names.get(entries[choice.study_id].trainee_id or -1, "Trainee"),
            protocol=protocols[entries[choice.study_id].protocol_id].name
            if entries[choice.study_id].protocol_id in protocols
            else entries[choice.study_id].protocol_id,
            reason=choice.reason,
            nomination_reason=choice.nomination_reason.value,
        )
        for choice in agenda.choices
    )
    return Proposal(agenda, cases)
