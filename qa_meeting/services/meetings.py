"""Meetings: plan the agenda, run it (live state the follow pages poll), close it.

Only a chair (or an admin) plans and runs a meeting. Closing it records per case whether it was
presented or deferred; presented cases leave the queue, deferred ones carry over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlmodel import Session

from qa_meeting.domain.meeting import FIRST_STEP, LAST_STEP, RevealStep, trainee_pseudonyms
from qa_meeting.errors import NotFoundError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meeting_queue import require_chair
from qa_meeting.services.scans import is_staff
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import (
    AgendaItem,
    Attendance,
    ItemOutcome,
    Meeting,
    MeetingStatus,
    NominationStatus,
    utcnow,
)

MAX_SLOT_MINUTES = 600


@dataclass(frozen=True)
class PlannedCase:
    study_id: int
    planned_minutes: int
    reason: str
    nomination_reason: str = ""


@dataclass(frozen=True)
class MeetingSummary:
    id: int
    held_on: date
    chair: str
    slot_minutes: int
    status: str
    cases: int
    presented: int
    deferred: int
    attendance: int

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "held_on": self.held_on.isoformat()}


class Move(StrEnum):
    NEXT_STEP = "next_step"
    PREVIOUS_STEP = "previous_step"
    NEXT_CASE = "next_case"
    PREVIOUS_CASE = "previous_case"


def _meeting(session: Session, meeting_id: int) -> Meeting:
    meeting = repository.get_meeting(session=session, meeting_id=meeting_id)
    if meeting is None:
        raise NotFoundError(f"Meeting {meeting_id} was not found.")
    return meeting


def _check_agenda(agenda: Sequence[PlannedCase]) -> None:
    ids = [case.study_id for case in agenda]
    if len(set(ids)) != len(ids):
        raise ValidationError("A scan appears twice on the agenda.", "Keep each scan once.")
    for case in agenda:
        if not 1 <= case.planned_minutes <= 60:
            raise ValidationError(
                f"Scan {case.study_id} is planned for {case.planned_minutes} minutes.",
                "Plan between 1 and 60 minutes per case.",
            )


def _write_agenda(session: Session, meeting: Meeting, agenda: Sequence[PlannedCase]) -> None:
    assert meeting.id is not None
    for item in repository.list_agenda_items(session=session, meeting_id=meeting.id):
        repository.delete_agenda_item(session=session, item=item)
    studies = repository.studies_by_id(session=session, study_ids=[c.study_id for c in agenda])
    missing = [c.study_id for c in agenda if c.study_id not in studies]
    if missing:
        raise NotFoundError(f"Scan {missing[0]} was not found.")
    labels = trainee_pseudonyms(studies[c.study_id].operator_id for c in agenda)
    for position, case in enumerate(agenda):
        operator = studies[case.study_id].operator_id
        repository.save_agenda_item(
            session=session,
            item=AgendaItem(
                meeting_id=meeting.id,
                study_id=case.study_id,
                position=position,
                planned_minutes=case.planned_minutes,
                reason=case.reason[:300],
                nomination_reason=case.nomination_reason,
                trainee_label=labels.get(operator, "Trainee") if operator else "Trainee",
            ),
        )


def create_meeting(
    ctx: AppContext,
    actor: Actor,
    *,
    held_on: date,
    slot_minutes: int,
    agenda: Sequence[PlannedCase],
) -> int:
    """Plan a meeting with its agenda (as proposed, then edited by the chair)."""
    require_chair(actor, "plan a meeting")
    if not 5 <= slot_minutes <= MAX_SLOT_MINUTES:
        raise ValidationError(
            f"A {slot_minutes}-minute slot is not plausible.", "Use 5 to 600 minutes."
        )
    _check_agenda(agenda)
    with transaction(ctx.engine) as session:
        meeting = repository.add_meeting(
            session=session,
            meeting=Meeting(held_on=held_on, chair_id=actor.user_id, slot_minutes=slot_minutes),
        )
        _write_agenda(session, meeting, agenda)
        assert meeting.id is not None
        audit.record(session, actor, "meeting.create", target=f"meeting:{meeting.id}")
        return meeting.id


def update_agenda(
    ctx: AppContext, actor: Actor, meeting_id: int, agenda: Sequence[PlannedCase]
) -> None:
    """Replace the agenda of a meeting that has not started (reorder, re-time, drop, add)."""
    require_chair(actor, "edit the agenda")
    _check_agenda(agenda)
    with transaction(ctx.engine) as session:
        meeting = _meeting(session, meeting_id)
        if meeting.status != MeetingStatus.PLANNED:
            raise ValidationError(
                "This meeting has started; its agenda is fixed.",
                "Defer a case instead, or plan another meeting.",
            )
        _write_agenda(session, meeting, agenda)
        audit.record(session, actor, "meeting.agenda", target=f"meeting:{meeting_id}")


def list_meetings(ctx: AppContext, actor: Actor) -> list[MeetingSummary]:
    """Every meeting, newest first, with its counts (staff only)."""
    del actor  # meeting records are department information; names are only the chair's
    with transaction(ctx.engine) as session:
        names = {u.id: u.display_name for u in repository.list_users(session=session)}
        rows = repository.list_meetings(session=session)
        ids = [m.id for m in rows if m.id is not None]
        outcomes = repository.outcome_counts(session=session, meeting_ids=ids)
        attended = repository.attendance_counts(session=session, meeting_ids=ids)
    summaries = []
    for meeting in rows:
        assert meeting.id is not None
        counts = outcomes.get(meeting.id, {})
        summaries.append(
            MeetingSummary(
                id=meeting.id,
                held_on=meeting.held_on,
                chair=names.get(meeting.chair_id or 0, ""),
                slot_minutes=meeting.slot_minutes,
                status=meeting.status,
                cases=sum(counts.values()),
                presented=counts.get(ItemOutcome.PRESENTED.value, 0),
                deferred=counts.get(ItemOutcome.DEFERRED.value, 0),
                attendance=attended.get(meeting.id, 0),
            )
        )
    return summaries


def _attend(session: Session, meeting_id: int, user_id: int, source: str) -> None:
    if repository.get_attendance(session=session, meeting_id=meeting_id, user_id=user_id) is None:
        repository.add_attendance(
            session=session,
            attendance=Attendance(meeting_id=meeting_id, user_id=user_id, source=source),
        )


def start_meeting(ctx: AppContext, actor: Actor, meeting_id: int) -> None:
    """Go live on the first case; the chair is the first attendee."""
    require_chair(actor, "run the meeting")
    with transaction(ctx.engine) as session:
        meeting = _meeting(session, meeting_id)
        if meeting.status == MeetingStatus.CLOSED:
            raise ValidationError("This meeting is closed.", "Plan a new meeting.")
        items = repository.list_agenda_items(session=session, meeting_id=meeting_id)
        if not items:
            raise ValidationError("The agenda is empty.", "Add at least one case first.")
        live = repository.live_meeting(session=session)
        if live is not None and live.id != meeting_id:
            raise ValidationError(
                f"Meeting {live.id} is live; only one meeting runs at a time.",
                "Close the live meeting first (Present, Attendance & close).",
            )
        if meeting.status == MeetingStatus.PLANNED:
            meeting.status = MeetingStatus.LIVE.value
            meeting.started_at = utcnow()
            _make_current(session, meeting, items[0])
            _attend(session, meeting_id, actor.user_id, "chair")
            audit.record(session, actor, "meeting.start", target=f"meeting:{meeting_id}")


def _make_current(session: Session, meeting: Meeting, item: AgendaItem) -> None:
    now = utcnow()
    if meeting.current_item_id is not None and meeting.current_item_id != item.id:
        previous = repository.get_agenda_item(session=session, item_id=meeting.current_item_id)
        if previous is not None:
            previous.ended_at = now
            repository.save_agenda_item(session=session, item=previous)
    meeting.current_item_id = item.id
    meeting.current_step = FIRST_STEP.value
    if item.started_at is None:
        item.started_at = now
        repository.save_agenda_item(session=session, item=item)
    repository.save_meeting(session=session, meeting=meeting)


def navigate(ctx: AppContext, actor: Actor, meeting_id: int, move: Move) -> None:
    """Reveal the next or previous step, or switch case; the room follows."""
    require_chair(actor, "run the meeting")
    with transaction(ctx.engine) as session:
        meeting = _meeting(session, meeting_id)
        if meeting.status != MeetingStatus.LIVE:
            raise ValidationError("The meeting is not live.", "Start the meeting first.")
        items = list(repository.list_agenda_items(session=session, meeting_id=meeting_id))
        index = next((i for i, it in enumerate(items) if it.id == meeting.current_item_id), 0)
        if move is Move.NEXT_STEP and meeting.current_step < LAST_STEP:
            meeting.current_step += 1
            if meeting.current_step == LAST_STEP:
                current = items[index]
                if current.outcome == ItemOutcome.PENDING:
                    current.outcome = ItemOutcome.PRESENTED.value
                    repository.save_agenda_item(session=session, item=current)
            repository.save_meeting(session=session, meeting=meeting)
        elif move is Move.PREVIOUS_STEP and meeting.current_step > FIRST_STEP:
            meeting.current_step -= 1
            repository.save_meeting(session=session, meeting=meeting)
        elif move is Move.NEXT_CASE and index + 1 < len(items):
            _make_current(session, meeting, items[index + 1])
        elif move is Move.PREVIOUS_CASE and index > 0:
            _make_current(session, meeting, items[index - 1])


def go_to_case(ctx: AppContext, actor: Actor, meeting_id: int, item_id: int) -> None:
    require_chair(actor, "run the meeting")
    with transaction(ctx.engine) as session:
        meeting = _meeting(session, meeting_id)
        item = repository.get_agenda_item(session=session, item_id=item_id)
        if item is None or item.meeting_id != meeting_id:
            raise NotFoundError(f"Case {item_id} is not on this agenda.")
        _make_current(session, meeting, item)


def set_outcome(ctx: AppContext, actor: Actor, item_id: int, outcome: ItemOutcome) -> None:
    """Mark a case presented or deferred (deferred cases stay in the queue)."""
    require_chair(actor, "record the outcome")
    with transaction(ctx.engine) as session:
        item = repository.get_agenda_item(session=session, item_id=item_id)
        if item is None:
            raise NotFoundError(f"Case {item_id} was not found.")
        item.outcome = outcome.value
        repository.save_agenda_item(session=session, item=item)
        audit.record(session, actor, f"case.{outcome.value}", target=f"study:{item.study_id}")


def mark_attendance(
    ctx: AppContext, actor: Actor, meeting_id: int, user_ids: Sequence[int]
) -> None:
    """The chair records who was in the room (the follow page records itself)."""
    require_chair(actor, "record attendance")
    with transaction(ctx.engine) as session:
        _meeting(session, meeting_id)
        for user_id in user_ids:
            _attend(session, meeting_id, user_id, "chair")


def join_meeting(ctx: AppContext, actor: Actor, meeting_id: int) -> None:
    """Opening the follow page of a live meeting counts as attending it."""
    with transaction(ctx.engine) as session:
        meeting = _meeting(session, meeting_id)
        if meeting.status == MeetingStatus.LIVE:
            _attend(session, meeting_id, actor.user_id, "follow")


def close_meeting(ctx: AppContext, actor: Actor, meeting_id: int) -> None:
    """End the meeting: cases not presented are deferred and carry over in the queue."""
    require_chair(actor, "close the meeting")
    with transaction(ctx.engine) as session:
        meeting = _meeting(session, meeting_id)
        for item in repository.list_agenda_items(session=session, meeting_id=meeting_id):
            if item.outcome == ItemOutcome.PENDING:
                item.outcome = ItemOutcome.DEFERRED.value
            if item.ended_at is None and item.started_at is not None:
                item.ended_at = utcnow()
            repository.save_agenda_item(session=session, item=item)
            nomination = repository.get_nomination(session=session, study_id=item.study_id)
            if nomination is not None and item.outcome == ItemOutcome.PRESENTED:
                nomination.status = NominationStatus.PRESENTED.value
                repository.save_nomination(session=session, nomination=nomination)
        meeting.status = MeetingStatus.CLOSED.value
        meeting.closed_at = utcnow()
        meeting.current_item_id = None
        repository.save_meeting(session=session, meeting=meeting)
        audit.record(session, actor, "meeting.close", target=f"meeting:{meeting_id}")


def live_meeting_id(ctx: AppContext) -> int | None:
    with transaction(ctx.engine) as session:
        meeting = repository.live_meeting(session=session)
        return meeting.id if meeting else None


def can_run(actor: Actor) -> bool:
    return is_staff(actor) and actor.role != "expert"


def step_title(step: int) -> str:
    return RevealStep(step).title
