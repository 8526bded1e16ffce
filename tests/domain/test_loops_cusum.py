"""The CUSUM learning curve and the meeting cadence, checked step by step by hand."""

from __future__ import annotations

import math
from datetime import date

import pytest

from qa_meeting.domain.cadence import (
    MeetingFact,
    attendance,
    cadence,
    held_in_year_to,
    year_before,
)
from qa_meeting.domain.cusum import CusumParams, Outcome, cusum_curve
from qa_meeting.domain.loops import ScanFact, cusum_per_trainee
from qa_meeting.errors import ValidationError

D = date
PARAMS = CusumParams(acceptable_rate=0.10, unacceptable_rate=0.20, alpha=0.10, beta=0.10)
# P = ln(0.2 / 0.1) = 0.6931472; Q = ln(0.9 / 0.8) = 0.1177830; P + Q = 0.8109302
# s = Q / (P + Q) = 0.1452444 (so 1 - s = 0.8547556)
# h = ln(0.9 / 0.1) / (P + Q) = 2.1972246 / 0.8109302 = 2.7095113
S, H = 0.1452444, 2.7095113


def test_s_and_h_from_the_rates() -> None:
    assert PARAMS.s == pytest.approx(S, abs=1e-6)
    assert PARAMS.h == pytest.approx(H, abs=1e-6)
    assert PARAMS.s == pytest.approx(math.log(1.125) / (math.log(2) + math.log(1.125)))


def test_each_step_of_the_cumulative_and_reset_curves() -> None:
    outcomes = [
        Outcome(D(2026, 1, 3), 13, True),  # third by date
        Outcome(D(2026, 1, 1), 11, False),  # first
        Outcome(D(2026, 1, 2), 12, True),  # second
        Outcome(D(2026, 1, 4), 14, False),  # fourth
    ]
    curve = cusum_curve(outcomes, PARAMS)
    assert [p.study_id for p in curve.points] == [11, 12, 13, 14]
    # cumulative: -s = -0.145244; + (1 - s) = 0.709511; + (1 - s) = 1.564267; - s = 1.419023
    assert [p.cumulative for p in curve.points] == pytest.approx(
        [-0.145244, 0.709511, 1.564267, 1.419023], abs=1e-5
    )
    # reset: max(0, -s) = 0; 0.854756; 1.709511; 1.564267
    assert [p.reset for p in curve.points] == pytest.approx(
        [0.0, 0.854756, 1.709511, 1.564267], abs=1e-5
    )
    assert not curve.signal and curve.signal_at is None
    assert curve.s == pytest.approx(S, abs=1e-6)
    assert curve.h == pytest.approx(H, abs=1e-6)


def test_the_reset_chart_signals_when_it_reaches_h() -> None:
    failures = [Outcome(D(2026, 2, day), day, True) for day in range(1, 6)]
    curve = cusum_curve(failures, PARAMS)
    # 3 failures: 3 x 0.854756 = 2.564267 < h; 4 failures: 3.419023 >= h = 2.709511.
    assert curve.signal_at == 4 and curve.signal
    assert curve.points[3].reset == pytest.approx(3.419023, abs=1e-5)


def test_the_reset_chart_never_goes_below_zero() -> None:
    successes = [Outcome(D(2026, 2, day), day, False) for day in range(1, 4)]
    curve = cusum_curve(successes, PARAMS)
    assert [p.reset for p in curve.points] == [0.0, 0.0, 0.0]
    assert curve.points[-1].cumulative == pytest.approx(-3 * S, abs=1e-5)
    assert cusum_curve([], PARAMS).points == ()


@pytest.mark.parametrize(
    ("p0", "p1"), [(0.2, 0.2), (0.3, 0.2), (0.0, 0.2), (0.1, 1.0), (-0.1, 0.2)]
)
def test_rates_out_of_order_or_range_are_refused(p0: float, p1: float) -> None:
    with pytest.raises(ValidationError, match="0 < acceptable < unacceptable < 1") as error:
        CusumParams(acceptable_rate=p0, unacceptable_rate=p1)
    assert "QA_MEETING_CUSUM_ACCEPTABLE_RATE" in (error.value.remedy or "")


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.2])
def test_alpha_out_of_range_is_refused(alpha: float) -> None:
    with pytest.raises(ValidationError, match="alpha"):
        CusumParams(alpha=alpha)


def test_per_trainee_failure_means_discordant_major_or_minor() -> None:
    def fact(study_id: int, trainee: int, day: int, category: str | None) -> ScanFact:
        return ScanFact(study_id, trainee, "p", D(2026, 1, day), D(2026, 1, day),
                        discordance=category)  # fmt: skip

    facts = [
        fact(1, 1, 1, "discordant_major"),
        fact(2, 1, 2, "technically_limited"),  # a success on this curve
        fact(3, 1, 3, "discordant_minor"),
        fact(4, 2, 1, "concordant"),
        fact(5, 2, 2, None),  # not reviewed: not on the curve
    ]
    curves = cusum_per_trainee(facts, PARAMS)
    assert sorted(curves) == [1, 2]
    assert [p.failure for p in curves[1].points] == [True, False, True]
    # trainee 1: 0.854756, 0.709511, 1.564267; trainee 2: -0.145244
    assert [p.cumulative for p in curves[1].points] == pytest.approx(
        [0.854756, 0.709511, 1.564267], abs=1e-5
    )
    assert [p.cumulative for p in curves[2].points] == pytest.approx([-0.145244], abs=1e-5)


MEETINGS = [
    MeetingFact(1, D(2025, 3, 10), True, frozenset({1, 2, 9})),
    MeetingFact(2, D(2025, 6, 15), True, frozenset()),
    MeetingFact(3, D(2026, 1, 20), True, frozenset({1, 2, 3, 9, 10})),
    MeetingFact(4, D(2026, 2, 10), False, frozenset({1})),  # not held (planned or live)
    MeetingFact(5, D(2026, 3, 20), False),  # planned, in the future
]


def test_cadence_counts_held_meetings_in_the_rolling_twelve_months() -> None:
    rows = cadence(MEETINGS, D(2026, 3, 10))
    # Month ends from March 2025 to February 2026, then today: 13 points.
    assert len(rows) == 13
    assert (rows[0].as_of, rows[0].meetings) == (D(2025, 3, 31), 1)  # meeting 1
    assert (rows[3].as_of, rows[3].meetings) == (D(2025, 6, 30), 2)  # meetings 1 and 2
    assert (rows[10].as_of, rows[10].meetings) == (D(2026, 1, 31), 3)  # 1, 2 and 3
    # Today, 10 March 2026: the year starts after 10 March 2025, so meeting 1 has dropped out.
    assert (rows[-1].as_of, rows[-1].meetings) == (D(2026, 3, 10), 2)
    assert all(r.minimum == 6 and not r.meets_minimum for r in rows)
    assert cadence([MEETINGS[3]], D(2026, 3, 10)) == []


def test_year_before_and_the_window_edges() -> None:
    assert year_before(D(2028, 2, 29)) == D(2027, 2, 28)
    assert held_in_year_to(MEETINGS, D(2026, 3, 9)) == 3  # meeting 1 is still inside
    six = [MeetingFact(i, D(2026, i, 1), True) for i in range(1, 7)]
    assert cadence(six, D(2026, 6, 1))[-1].meets_minimum


def test_attendance_per_held_meeting_against_active_trainees() -> None:
    rows = attendance(MEETINGS, frozenset({1, 2, 3}))
    # 1: three attendees, trainees 1 and 2 of 3; 2: nobody; 3: five, all three trainees.
    assert [(r.meeting_id, r.attendees, r.trainees_attended) for r in rows] == [
        (1, 3, 2),
        (2, 0, 0),
        (3, 5, 3),
    ]
    assert [r.trainee_share for r in rows] == [pytest.approx(2 / 3), 0.0, 1.0]
    assert attendance(MEETINGS, frozenset())[0].trainee_share is None
