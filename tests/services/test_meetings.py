"""A meeting from queue to close: agenda, live steps, audience answers, capture, carry-over."""

from __future__ import annotations

from datetime import date

import pytest

from qa_meeting.domain.agenda import build_agenda
from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.meeting import ErrorStage, RemedialAction, RevealStep, TeachingCategory
from qa_meeting.errors import PermissionDeniedError, ValidationError
from qa_meeting.services import audience, meeting_queue, meetings, presenter
from qa_meeting.services.context import AppContext
from qa_meeting.services.meetings import Move, PlannedCase
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import ItemOutcome, NominationStatus
from tests.conftest import actor_named

PROTOCOLS = load_protocols()


def _plan(ctx: AppContext, minutes: int = 30) -> tuple[int, list[PlannedCase]]:
    chair = actor_named(ctx, "chair1")
    agenda = build_agenda(meeting_queue.queue_entries(ctx, chair, PROTOCOLS), minutes)
    planned = [
        PlannedCase(c.study_id, c.planned_minutes, c.reason, c.nomination_reason.value)
        for c in agenda.choices
    ]
    meeting_id = meetings.create_meeting(
        ctx, chair, held_on=date(2026, 12, 1), slot_minutes=minutes, agenda=planned
    )
    return meeting_id, planned


def test_the_demo_queue_holds_discordant_limited_interesting_and_good_spots(
    demo_ctx: AppContext,
) -> None:
    rows = meeting_queue.list_queue(demo_ctx, actor_named(demo_ctx, "expert1"))
    reasons = {row.reason.value for row in rows}
    assert {"discordant_major", "discordant_minor", "technically_limited", "good_spot"} <= reasons
    assert rows[0].reason.value == "discordant_major"  # strongest reason first
    with pytest.raises(PermissionDeniedError):
        meeting_queue.list_queue(demo_ctx, actor_named(demo_ctx, "trainee1"))


def test_only_the_chair_changes_the_queue_and_pins_carry_into_the_agenda(
    demo_ctx: AppContext,
) -> None:
    chair, expert = actor_named(demo_ctx, "chair1"), actor_named(demo_ctx, "expert1")
    rows = meeting_queue.list_queue(demo_ctx, chair)
    last = rows[-1].study_id
    with pytest.raises(PermissionDeniedError):
        meeting_queue.set_queue_status(demo_ctx, expert, last, NominationStatus.PINNED)
    meeting_queue.set_queue_status(demo_ctx, chair, last, NominationStatus.PINNED)
    agenda = build_agenda(meeting_queue.queue_entries(demo_ctx, chair, PROTOCOLS), 10)
    assert last in [c.study_id for c in agenda.choices]
    meeting_queue.set_queue_status(demo_ctx, chair, last, NominationStatus.DISMISSED)
    assert last not in [r.study_id for r in meeting_queue.list_queue(demo_ctx, chair)]
    meeting_queue.add_to_queue(demo_ctx, chair, last)
    assert last in [r.study_id for r in meeting_queue.list_queue(demo_ctx, chair)]


def test_a_whole_meeting(demo_ctx: AppContext) -> None:
    chair = actor_named(demo_ctx, "chair1")
    trainee = actor_named(demo_ctx, "trainee2")
    meeting_id, planned = _plan(demo_ctx)
    assert len(planned) >= 3
    assert audience.follow_state(demo_ctx, trainee, PROTOCOLS) is None  # not live yet
    meetings.start_meeting(demo_ctx, chair, meeting_id)

    case = presenter.presenter_case(demo_ctx, chair, meeting_id, PROTOCOLS)
    assert (case.position, case.step) == (1, RevealStep.CONTEXT)
    assert case.trainee_label.startswith("Trainee ")
    state = audience.follow_state(demo_ctx, trainee, PROTOCOLS)
    assert state is not None and state.answers_open and state.expert_answers == {}
    first_question = case.protocol.questions[0]
    answer = first_question.allowed_values[0]
    audience.commit_answers(demo_ctx, trainee, case.item_id, {first_question.id: answer}, PROTOCOLS)

    for _ in range(3):
        meetings.navigate(demo_ctx, chair, meeting_id, Move.NEXT_STEP)
    case = presenter.presenter_case(demo_ctx, chair, meeting_id, PROTOCOLS)
    assert case.step == RevealStep.EXPERT_READ
    assert case.responses == 1
    assert case.distribution[first_question.id][answer] == 1
    with pytest.raises(ValidationError, match="closed"):
        audience.commit_answers(
            demo_ctx, trainee, case.item_id, {first_question.id: answer}, PROTOCOLS
        )
    state = audience.follow_state(demo_ctx, trainee, PROTOCOLS)
    assert state is not None and state.expert_answers  # revealed on the trainee's device too

    presenter.add_teaching_point(
        demo_ctx,
        chair,
        case.item_id,
        text="Look for diastolic RV collapse on the subcostal view.",
        category=TeachingCategory.INTERPRETATION,
        tags=["Tamponade", "subcostal"],
        frame_index=3,
    )
    presenter.save_consensus(
        demo_ctx,
        chair,
        case.item_id,
        presenter.Consensus(
            StudyCategory.DISCORDANT_MAJOR,
            ErrorStage.INTERPRETATION,
            RemedialAction.FEEDBACK_ONLY,
            (),
            approved_for_bank=True,
        ),
    )
    meetings.navigate(demo_ctx, chair, meeting_id, Move.NEXT_STEP)  # classification: presented
    meetings.navigate(demo_ctx, chair, meeting_id, Move.NEXT_CASE)
    second = presenter.presenter_case(demo_ctx, chair, meeting_id, PROTOCOLS)
    assert (second.position, second.step) == (2, RevealStep.CONTEXT)
    meetings.set_outcome(demo_ctx, chair, second.item_id, ItemOutcome.DEFERRED)
    meetings.close_meeting(demo_ctx, chair, meeting_id)

    [summary] = [m for m in meetings.list_meetings(demo_ctx, chair) if m.id == meeting_id]
    assert (summary.status, summary.presented) == ("closed", 1)
    assert summary.deferred == len(planned) - 1
    assert summary.attendance == 2  # the chair and the trainee on the follow page
    with transaction(demo_ctx.engine) as session:
        first_item = repository.get_agenda_item(session=session, item_id=case.item_id)
        assert first_item is not None and first_item.approved_for_bank
        nomination = repository.get_nomination(session=session, study_id=case.study_id)
        assert nomination is not None and nomination.status == "presented"
        deferred = repository.get_nomination(session=session, study_id=second.study_id)
        assert deferred is not None and deferred.status in ("queued", "pinned")  # carries over
        [point] = repository.list_teaching_points(session=session, meeting_id=meeting_id)
        assert point.tags == ["subcostal", "tamponade"] and point.frame_index == 3


def test_trainees_cannot_run_the_meeting_or_see_identities(demo_ctx: AppContext) -> None:
    meeting_id, _ = _plan(demo_ctx)
    trainee = actor_named(demo_ctx, "trainee1")
    for action in (
        lambda: meetings.start_meeting(demo_ctx, trainee, meeting_id),
        lambda: meetings.navigate(demo_ctx, trainee, meeting_id, Move.NEXT_STEP),
        lambda: presenter.presenter_case(demo_ctx, trainee, meeting_id, PROTOCOLS),
        lambda: meetings.update_agenda(demo_ctx, trainee, meeting_id, []),
    ):
        with pytest.raises(PermissionDeniedError):
            action()
    meetings.start_meeting(demo_ctx, actor_named(demo_ctx, "chair1"), meeting_id)
    state = audience.follow_state(demo_ctx, trainee, PROTOCOLS)
    assert state is not None
    names = {"Dr Alex Trainee", "Dr Priya Trainee", "Dr Sam Trainee", "trainee1", "trainee2"}
    assert not any(name in repr(state) for name in names)


def test_the_agenda_is_fixed_once_live_and_validated(demo_ctx: AppContext) -> None:
    chair = actor_named(demo_ctx, "chair1")
    meeting_id, planned = _plan(demo_ctx)
    meetings.update_agenda(demo_ctx, chair, meeting_id, list(reversed(planned)))
    with pytest.raises(ValidationError, match="twice"):
        meetings.update_agenda(demo_ctx, chair, meeting_id, [planned[0], planned[0]])
    meetings.start_meeting(demo_ctx, chair, meeting_id)
    with pytest.raises(ValidationError, match="started"):
        meetings.update_agenda(demo_ctx, chair, meeting_id, planned)
    case = presenter.presenter_case(demo_ctx, chair, meeting_id, PROTOCOLS)
    assert case.study_id == planned[-1].study_id  # the reordered agenda


def test_the_demo_holds_one_past_meeting_with_attendance_and_teaching_points(
    demo_ctx: AppContext,
) -> None:
    chair = actor_named(demo_ctx, "chair1")
    [past] = meetings.list_meetings(demo_ctx, chair)
    assert (past.status, past.cases, past.presented, past.deferred) == ("closed", 4, 3, 1)
    assert past.attendance == 5  # the chair, three trainees and the expert
    with transaction(demo_ctx.engine) as session:
        points = repository.list_teaching_points(session=session, meeting_id=past.id)
        items = repository.list_agenda_items(session=session, meeting_id=past.id)
    assert len(points) == 4 and {p.category for p in points} >= {"acquisition", "good_practice"}
    assert sum(i.approved_for_bank for i in items) == 2
    deferred = next(i.study_id for i in items if i.outcome == "deferred")
    assert deferred in [r.study_id for r in meeting_queue.list_queue(demo_ctx, chair)]


def test_only_one_meeting_is_live_at_a_time(demo_ctx: AppContext) -> None:
    chair = actor_named(demo_ctx, "chair1")
    first, planned = _plan(demo_ctx)
    second = meetings.create_meeting(
        demo_ctx, chair, held_on=date(2026, 12, 8), slot_minutes=30, agenda=planned
    )
    meetings.start_meeting(demo_ctx, chair, first)
    with pytest.raises(ValidationError, match="only one meeting runs at a time"):
        meetings.start_meeting(demo_ctx, chair, second)
    meetings.close_meeting(demo_ctx, chair, first)
    meetings.start_meeting(demo_ctx, chair, second)
    assert meetings.live_meeting_id(demo_ctx) == second
