"""The follow page: trainees in the room commit their own answers before the reveal.

A trainee sees the case as the room does (de-identified context, the pseudonym, the protocol's
questions), never another trainee's identity or answers; the chair sees only the counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qa_meeting.domain.meeting import RevealStep, answers_open
from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import StructuredRead, validate_read
from qa_meeting.errors import NotFoundError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meetings import join_meeting
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import AudienceResponse, MeetingStatus, ReadKind


@dataclass(frozen=True)
class FollowState:
    meeting_id: int
    item_id: int
    position: int
    total: int
    step: RevealStep
    protocol: Protocol
    age_band: str
    sex: str
    indication: str
    trainee_label: str
    my_answers: Mapping[str, str]
    committed: bool
    expert_answers: Mapping[str, str]  # empty until the expert's read is revealed

    @property
    def answers_open(self) -> bool:
        return answers_open(self.step)


def follow_state(
    ctx: AppContext, actor: Actor, protocols: Mapping[str, Protocol]
) -> FollowState | None:
    """The live meeting as the actor's device shows it, or None when no meeting is live."""
    with transaction(ctx.engine) as session:
        meeting = repository.live_meeting(session=session)
        if meeting is None or meeting.id is None or meeting.current_item_id is None:
            return None
        items = list(repository.list_agenda_items(session=session, meeting_id=meeting.id))
        item = next(i for i in items if i.id == meeting.current_item_id)
        assert item.id is not None
        study = repository.get_study(session=session, study_id=item.study_id)
        assert study is not None and study.protocol_id is not None
        mine = repository.get_response(session=session, item_id=item.id, user_id=actor.user_id)
        expert = repository.get_read(session=session, study_id=item.study_id, kind=ReadKind.EXPERT)
        step = RevealStep(meeting.current_step)
        meeting_id = meeting.id
        state = FollowState(
            meeting_id=meeting.id,
            item_id=item.id,
            position=items.index(item) + 1,
            total=len(items),
            step=step,
            protocol=protocols[study.protocol_id],
            age_band=study.age_band,
            sex=study.sex,
            indication=study.indication,
            trainee_label=item.trainee_label,
            my_answers=dict(mine.answers) if mine else {},
            committed=mine is not None,
            expert_answers=dict(expert.answers)
            if expert and step >= RevealStep.EXPERT_READ
            else {},
        )
    join_meeting(ctx, actor, meeting_id)
    return state


def commit_answers(
    ctx: AppContext,
    actor: Actor,
    item_id: int,
    answers: Mapping[str, str],
    protocols: Mapping[str, Protocol],
) -> None:
    """Store the actor's answers for the case on screen, while answers are still open."""
    with transaction(ctx.engine) as session:
        item = repository.get_agenda_item(session=session, item_id=item_id)
        meeting = (
            repository.get_meeting(session=session, meeting_id=item.meeting_id) if item else None
        )
        if item is None or meeting is None:
            raise NotFoundError(f"Case {item_id} was not found.")
        if meeting.status != MeetingStatus.LIVE or meeting.current_item_id != item_id:
            raise ValidationError(
                "This case is not on screen any more.", "Answer the case the chair is showing."
            )
        if not answers_open(meeting.current_step):
            raise ValidationError(
                "The answers are closed: the trainee's read has been revealed.",
                "Commit earlier next time: answers close when the reveal begins.",
            )
        study = repository.get_study(session=session, study_id=item.study_id)
        assert study is not None and study.protocol_id is not None
        protocol = protocols[study.protocol_id]
        checked = validate_read(StructuredRead(protocol.id, answers=answers), protocol)
        if not checked.answers:
            raise ValidationError("No answer was chosen.", "Answer at least one question.")
        response = repository.get_response(
            session=session, item_id=item_id, user_id=actor.user_id
        ) or AudienceResponse(agenda_item_id=item_id, user_id=actor.user_id)
        response.answers = dict(checked.answers)
        repository.save_response(session=session, response=response)
        audit.record(session, actor, "audience.commit", target=f"case:{item_id}")
