"""What the presenter shows for the current case, and what the chair captures during it.

The operator appears only as the meeting's pseudonym ("Trainee A"); the patient only through the
de-identified context (age band, sex, indication, protocol).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from qa_meeting.domain.discordance import DiscordanceResult, StudyCategory, compare_reads
from qa_meeting.domain.meeting import (
    BiasTag,
    ErrorStage,
    RemedialAction,
    RevealStep,
    TeachingCategory,
    answer_distribution,
)
from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import StructuredRead
from qa_meeting.errors import NotFoundError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meeting_queue import require_chair
from qa_meeting.services.review import ClipInfo, clip_infos, read_from_row
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import AgendaItem, Meeting, ReadKind, TeachingPoint

MAX_TEACHING_POINT = 2000


@dataclass(frozen=True)
class AgendaRow:
    item_id: int
    position: int
    protocol: str
    trainee_label: str
    planned_minutes: int
    reason: str
    outcome: str
    current: bool


@dataclass(frozen=True)
class ReasoningItem:
    """A place in the loop the expert's reasoning points at: an annotated frame."""

    clip_id: int
    frame_index: int
    kind: str
    label: str


@dataclass(frozen=True)
class TeachingPointView:
    id: int
    text: str
    category: str
    tags: tuple[str, ...]
    frame_index: int | None


@dataclass(frozen=True)
class Consensus:
    category: StudyCategory | None
    error_stage: ErrorStage | None
    remedial_action: RemedialAction | None
    bias_tags: tuple[BiasTag, ...]
    approved_for_bank: bool


@dataclass(frozen=True)
class PresenterCase:
    meeting_id: int
    meeting_status: str
    item_id: int
    position: int
    total: int
    step: RevealStep
    planned_minutes: int
    started_at: datetime | None
    study_id: int
    protocol: Protocol
    age_band: str
    sex: str
    indication: str
    trainee_label: str
    clips: tuple[ClipInfo, ...]
    trainee_read: StructuredRead | None
    expert_read: StructuredRead | None
    discordance: DiscordanceResult | None
    reasoning_items: tuple[ReasoningItem, ...]
    teaching_points: tuple[TeachingPointView, ...]
    consensus: Consensus
    outcome: str
    responses: int
    distribution: Mapping[str, Mapping[str, int]]
    agenda: tuple[AgendaRow, ...]

    def elapsed_seconds(self, now: datetime | None = None) -> float:
        if self.started_at is None:
            return 0.0
        started = self.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return max(0.0, ((now or datetime.now(UTC)) - started).total_seconds())


def _current(session: Session, meeting_id: int) -> tuple[Meeting, list[AgendaItem], AgendaItem]:
    meeting = repository.get_meeting(session=session, meeting_id=meeting_id)
    if meeting is None:
        raise NotFoundError(f"Meeting {meeting_id} was not found.")
    items = list(repository.list_agenda_items(session=session, meeting_id=meeting_id))
    if not items:
        raise ValidationError("This meeting has no cases.", "Add cases to its agenda.")
    item = next((i for i in items if i.id == meeting.current_item_id), items[0])
    return meeting, items, item


def _consensus(item: AgendaItem) -> Consensus:
    return Consensus(
        category=StudyCategory(item.consensus_category) if item.consensus_category else None,
        error_stage=ErrorStage(item.error_stage) if item.error_stage else None,
        remedial_action=RemedialAction(item.remedial_action) if item.remedial_action else None,
        bias_tags=tuple(BiasTag(tag) for tag in item.bias_tags),
        approved_for_bank=item.approved_for_bank,
    )


def presenter_case(
    ctx: AppContext, actor: Actor, meeting_id: int, protocols: Mapping[str, Protocol]
) -> PresenterCase:
    """Everything about the current case, for the chair's presenter screen."""
    require_chair(actor, "run the presenter")
    with transaction(ctx.engine) as session:
        meeting, items, item = _current(session, meeting_id)
        assert item.id is not None and meeting.id is not None
        study = repository.get_study(session=session, study_id=item.study_id)
        assert study is not None
        protocol = protocols[study.protocol_id or ""]
        trainee_row = repository.get_read(
            session=session, study_id=study.id or 0, kind=ReadKind.TRAINEE
        )
        expert_row = repository.get_read(
            session=session, study_id=study.id or 0, kind=ReadKind.EXPERT
        )
        trainee = read_from_row(trainee_row) if trainee_row else None
        expert = read_from_row(expert_row) if expert_row else None
        clips = clip_infos(session, study.id or 0)
        reasoning = tuple(
            ReasoningItem(clip.clip_id, a.frame_index, a.kind, a.label)
            for clip in clips
            for a in repository.list_annotations(session=session, clip_id=clip.clip_id)
        )
        points = tuple(
            TeachingPointView(p.id or 0, p.text, p.category, tuple(p.tags), p.frame_index)
            for p in repository.list_teaching_points(
                session=session, meeting_id=meeting.id, study_id=item.study_id
            )
        )
        responses = [r.answers for r in repository.list_responses(session=session, item_id=item.id)]
        studies = repository.studies_by_id(session=session, study_ids=[i.study_id for i in items])
        agenda = tuple(
            AgendaRow(
                item_id=i.id or 0,
                position=index + 1,
                protocol=protocols[studies[i.study_id].protocol_id or ""].name
                if studies[i.study_id].protocol_id in protocols
                else "",
                trainee_label=i.trainee_label,
                planned_minutes=i.planned_minutes,
                reason=i.reason,
                outcome=i.outcome,
                current=i.id == item.id,
            )
            for index, i in enumerate(items)
        )
        return PresenterCase(
            meeting_id=meeting.id,
            meeting_status=meeting.status,
            item_id=item.id,
            position=items.index(item) + 1,
            total=len(items),
            step=RevealStep(meeting.current_step),
            planned_minutes=item.planned_minutes,
            started_at=item.started_at,
            study_id=item.study_id,
            protocol=protocol,
            age_band=study.age_band,
            sex=study.sex,
            indication=study.indication,
            trainee_label=item.trainee_label,
            clips=clips,
            trainee_read=trainee,
            expert_read=expert,
            discordance=compare_reads(protocol, trainee, expert) if trainee and expert else None,
            reasoning_items=reasoning,
            teaching_points=points,
            consensus=_consensus(item),
            outcome=item.outcome,
            responses=len(responses),
            distribution=answer_distribution(protocol, responses),
            agenda=agenda,
        )


@dataclass(frozen=True)
class RoomAnswers:
    """Where the meeting is now, and the room's committed answers for the case on screen."""

    item_id: int
    step: RevealStep
    responses: int
    distribution: Mapping[str, Mapping[str, int]]


def room_answers(ctx: AppContext, actor: Actor, meeting_id: int, protocol: Protocol) -> RoomAnswers:
    """The presenter's poll: only the meeting's position and the answers, nothing else loaded."""
    require_chair(actor, "run the presenter")
    with transaction(ctx.engine) as session:
        meeting, _items, item = _current(session, meeting_id)
        assert item.id is not None
        responses = [r.answers for r in repository.list_responses(session=session, item_id=item.id)]
    return RoomAnswers(
        item_id=item.id,
        step=RevealStep(meeting.current_step),
        responses=len(responses),
        distribution=answer_distribution(protocol, responses),
    )


def save_consensus(ctx: AppContext, actor: Actor, item_id: int, consensus: Consensus) -> None:
    """Record what the meeting agreed for this case (may differ from the automatic class)."""
    require_chair(actor, "record the consensus")
    with transaction(ctx.engine) as session:
        item = repository.get_agenda_item(session=session, item_id=item_id)
        if item is None:
            raise NotFoundError(f"Case {item_id} was not found.")
        item.consensus_category = consensus.category.value if consensus.category else None
        item.error_stage = consensus.error_stage.value if consensus.error_stage else None
        item.remedial_action = (
            consensus.remedial_action.value if consensus.remedial_action else None
        )
        item.bias_tags = [tag.value for tag in consensus.bias_tags]
        item.approved_for_bank = consensus.approved_for_bank
        repository.save_agenda_item(session=session, item=item)
        audit.record(session, actor, "case.consensus", target=f"study:{item.study_id}")


def add_teaching_point(
    ctx: AppContext,
    actor: Actor,
    item_id: int,
    *,
    text: str,
    category: TeachingCategory,
    tags: Sequence[str] = (),
    frame_index: int | None = None,
) -> int:
    """Capture a teaching point for the case on screen, optionally tied to a frame."""
    require_chair(actor, "record teaching points")
    text = text.strip()
    if not text:
        raise ValidationError("The teaching point is empty.", "Type the point, then save it.")
    if len(text) > MAX_TEACHING_POINT:
        raise ValidationError(
            f"The teaching point is {len(text)} characters long.",
            f"Keep it under {MAX_TEACHING_POINT} characters; split it into two points.",
        )
    clean_tags = sorted({t.strip().lower() for t in tags if t.strip()})
    with transaction(ctx.engine) as session:
        item = repository.get_agenda_item(session=session, item_id=item_id)
        if item is None:
            raise NotFoundError(f"Case {item_id} was not found.")
        point = repository.add_teaching_point(
            session=session,
            point=TeachingPoint(
                study_id=item.study_id,
                meeting_id=item.meeting_id,
                author_id=actor.user_id,
                text=text,
                category=category.value,
                tags=clean_tags,
                frame_index=frame_index,
            ),
        )
        audit.record(session, actor, "teaching_point.add", target=f"study:{item.study_id}")
        assert point.id is not None
        return point.id
