"""The loop figures on the demo data: every figure has something to show on a fresh install."""

from __future__ import annotations

from datetime import date

from sqlalchemy import event

from qa_meeting.services import loop_figures
from qa_meeting.services.context import AppContext
from tests.conftest import actor_named


def test_the_demo_gives_every_figure_data(demo_ctx: AppContext) -> None:
    chair = actor_named(demo_ctx, "chair1")
    figures = loop_figures.loop_figures(demo_ctx, chair, months=None, today=date.today())

    # 19 scans with a trainee read; 17 over-read, 2 awaiting (cases 18 and 19).
    assert (figures.overread.count, figures.overread.of) == (17, 19)
    assert len(figures.overread_by_month) >= 3  # the scans span more than ten weeks
    assert len(figures.delays.backlog) == 2
    # The 17 delays (overread_days_after_scan): 0 0 1 1 1 2 2 2 [3] 4 5 6 7 9 10 12 14.
    assert figures.delays.median_days == 3
    assert len(figures.delays.by_week) >= 8
    assert 0 < figures.positive.count < figures.positive.of == 17
    assert sum(row.reviewed for row in figures.discordance) == 17
    assert len(figures.variety) == len(figures.curves) == 3
    assert figures.cadence[-1].meetings == 1  # the past meeting, below the RCR's 6
    [held] = figures.attendance
    assert (held.trainees_attended, held.active_trainees) == (3, 3)


def test_on_the_demo_a_trainee_sees_only_their_own_curve(demo_ctx: AppContext) -> None:
    trainee = actor_named(demo_ctx, "trainee2")
    figures = loop_figures.loop_figures(demo_ctx, trainee, today=date.today())
    assert [c.label for c in figures.curves] == [v.label for v in figures.variety] == ["You"]
    expert = loop_figures.loop_figures(demo_ctx, actor_named(demo_ctx, "expert1"))
    assert expert.curves == [] and len(expert.variety) == 3


def test_the_figures_take_a_few_queries_whatever_the_number_of_scans(
    demo_ctx: AppContext,
) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(demo_ctx.engine, "before_cursor_execute", count)
    try:
        loop_figures.loop_figures(demo_ctx, actor_named(demo_ctx, "chair1"), today=date.today())
    finally:
        event.remove(demo_ctx.engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # Scans with their reads, good-practice points, meetings, attendance, users: 19 scans.
    assert len(selects) <= 6, selects
