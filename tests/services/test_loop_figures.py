"""The loop figures service: facts gathered from the database, local dates, who sees what."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from qa_meeting.errors import ValidationError
from qa_meeting.services import loop_figures
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.loop_figures import months_before
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import (
    Attendance,
    Meeting,
    Read,
    Study,
    TeachingPoint,
)
from tests.conftest import add_actor

TODAY = date(2026, 3, 10)


def _scan(
    ctx: AppContext,
    trainee: Actor,
    scanned_on: date,
    *,
    expert: Actor | None = None,
    overread_at: datetime | None = None,
    discordance: str | None = None,
    good_spot: bool = False,
    answers: dict[str, str] | None = None,
) -> int:
    with transaction(ctx.engine) as session:
        study = repository.add_study(
            session=session,
            study=Study(
                study_instance_uid=f"1.2.826.0.1.{scanned_on:%Y%m%d}.{trainee.user_id}",
                protocol_id="efast",
                operator_id=trainee.user_id,
                scanned_on=scanned_on,
                discordance=discordance,
                flagged_good_spot=good_spot,
            ),
        )
        assert study.id is not None
        repository.save_read(
            session=session,
            read=Read(study_id=study.id, reader_id=trainee.user_id, kind="trainee",
                      protocol_id="efast", answers={}),
        )  # fmt: skip
        if expert is not None and overread_at is not None:
            repository.save_read(
                session=session,
                read=Read(study_id=study.id, reader_id=expert.user_id, kind="expert",
                          protocol_id="efast", answers=answers or {}, created_at=overread_at),
            )  # fmt: skip
        return study.id


@pytest.fixture
def people(any_ctx: AppContext) -> dict[str, Actor]:
    return {
        name: add_actor(any_ctx, name, role)
        for name, role in [
            ("alice", "trainee"),
            ("bob", "trainee"),
            ("eve", "expert"),
            ("carol", "chair"),
        ]
    }


@pytest.fixture
def department(any_ctx: AppContext, people: dict[str, Actor]) -> AppContext:
    """Three scans, one teaching point, one held meeting and one planned one."""
    alice, bob, eve = people["alice"], people["bob"], people["eve"]
    first = _scan(any_ctx, alice, date(2026, 1, 5), expert=eve,
                  overread_at=datetime(2026, 1, 7, 10, tzinfo=UTC), discordance="concordant",
                  answers={"peritoneal_free_fluid": "yes"})  # fmt: skip
    late = datetime(2026, 1, 13, 23, 30, tzinfo=UTC)
    _scan(any_ctx, alice, date(2026, 1, 7), expert=eve, overread_at=late,
          discordance="discordant_major")  # fmt: skip
    _scan(any_ctx, bob, date(2026, 2, 10))  # awaiting its over-read
    with transaction(any_ctx.engine) as session:
        session.add(TeachingPoint(study_id=first, text="Nice views", category="good_practice"))
        held = repository.add_meeting(
            session=session, meeting=Meeting(held_on=date(2026, 2, 1), status="closed")
        )
        repository.add_meeting(session=session, meeting=Meeting(held_on=date(2026, 4, 1)))
        assert held.id is not None
        for person in (alice, eve):
            session.add(Attendance(meeting_id=held.id, user_id=person.user_id))
    return any_ctx


def test_figures_from_the_database(department: AppContext, people: dict[str, Actor]) -> None:
    figures = loop_figures.loop_figures(department, people["carol"], months=None, today=TODAY)
    # Over-read: 2 of 3 scans with a trainee read; January 2 of 2, February 0 of 1.
    assert (figures.overread.count, figures.overread.of) == (2, 3)
    assert [(r.period, r.count, r.of) for r in figures.overread_by_month] == [
        ("2026-01", 2, 2),
        ("2026-02", 0, 1),
    ]
    # Days to feedback: 7 - 5 = 2 and 13 - 7 = 6 (London is on UTC in January): median 4.
    assert [d.days for d in figures.delays.delays] == [2, 6]
    assert figures.delays.median_days == 4
    # Backlog: Bob's scan of 10 February, 28 days old on 10 March.
    assert [d.days for d in figures.delays.backlog] == [28]
    # Positive feedback: the first scan's good-practice point, 1 of 2 over-reads.
    assert (figures.positive.count, figures.positive.of) == (1, 2)
    assert [(r.month, r.reviewed) for r in figures.discordance] == [("2026-01", 2)]
    # Variety: Alice's first scan covers (efast, peritoneal_free_fluid=yes), her second
    # (efast, normal): 2 cells.
    [alice_variety] = figures.variety
    assert (alice_variety.label, alice_variety.row.cells_seen) == (people["alice"].pseudonym, 2)
    # Cadence: the meeting of 1 February (the planned one does not count); attendance: Alice of
    # the two active trainees, and Eve.
    assert [(r.as_of, r.meetings) for r in figures.cadence] == [
        (date(2026, 2, 28), 1),
        (TODAY, 1),
    ]
    [row] = figures.attendance
    assert (row.attendees, row.trainees_attended, row.active_trainees) == (2, 1, 2)


def test_dates_are_the_departments_local_dates(
    department: AppContext, people: dict[str, Actor]
) -> None:
    auckland = replace(
        department, settings=replace(department.settings, timezone="Pacific/Auckland")
    )
    figures = loop_figures.loop_figures(auckland, people["carol"], months=None, today=TODAY)
    # 13 January 23:30 UTC is 14 January in Auckland (UTC+13): 14 - 7 = 7 days.
    assert [d.days for d in figures.delays.delays] == [2, 7]


def test_a_trainee_sees_only_their_own_curve_and_variety_as_you(
    department: AppContext, people: dict[str, Actor]
) -> None:
    alice, bob = people["alice"], people["bob"]
    mine = loop_figures.loop_figures(department, alice, months=None, today=TODAY)
    assert mine.curves_visible
    assert [c.label for c in mine.curves] == ["You"]
    assert [p.failure for p in mine.curves[0].curve.points] == [False, True]
    assert [v.label for v in mine.variety] == ["You"]
    # Bob has no reviewed scan yet: no curve, no variety row, and nobody else's.
    his = loop_figures.loop_figures(department, bob, months=None, today=TODAY)
    assert (his.curves, his.variety) == ([], [])
    assert his.overread.of == 3  # the department's figures are the same for everyone


def test_an_expert_sees_no_curves_and_the_chair_sees_every_trainees(
    department: AppContext, people: dict[str, Actor]
) -> None:
    expert = loop_figures.loop_figures(department, people["eve"], months=None, today=TODAY)
    assert not expert.curves_visible and expert.curves == []
    assert [v.label for v in expert.variety] == [people["alice"].pseudonym]
    chair = loop_figures.loop_figures(department, people["carol"], months=None, today=TODAY)
    assert [c.label for c in chair.curves] == [people["alice"].pseudonym]


def test_a_period_keeps_the_recent_scans_and_meetings(
    department: AppContext, people: dict[str, Actor]
) -> None:
    # Last month: from 10 February; the curves keep the whole history.
    figures = loop_figures.loop_figures(department, people["carol"], months=1, today=TODAY)
    assert figures.first_day == date(2026, 2, 10)
    assert (figures.overread.count, figures.overread.of) == (0, 1)
    assert figures.attendance == []
    assert len(figures.curves[0].curve.points) == 2


def test_invalid_cusum_settings_are_refused(ctx: AppContext) -> None:
    actor = add_actor(ctx, "carol", "chair")
    bad = replace(
        ctx,
        settings=replace(ctx.settings, cusum_acceptable_rate=0.3, cusum_unacceptable_rate=0.2),
    )
    with pytest.raises(ValidationError, match="acceptable < unacceptable"):
        loop_figures.loop_figures(bad, actor, today=TODAY)


def test_an_empty_department_has_empty_figures(ctx: AppContext) -> None:
    actor = add_actor(ctx, "carol", "chair")
    figures = loop_figures.loop_figures(ctx, actor, today=TODAY)
    assert figures.overread.share is None and figures.delays.median_days is None
    assert (figures.cadence, figures.attendance, figures.curves) == ([], [], [])


def test_months_before_keeps_the_day_or_the_months_last() -> None:
    assert months_before(date(2026, 3, 10), 3) == date(2025, 12, 10)
    assert months_before(date(2026, 5, 31), 3) == date(2026, 2, 28)
    assert months_before(date(2026, 1, 15), 12) == date(2025, 1, 15)
