"""Loop figures on a hand-built fixture; every expected value is worked out in the comments."""

from __future__ import annotations

from datetime import date

import pytest

from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.loops import (
    Delay,
    ScanFact,
    WeekMedian,
    discordance_by_month,
    feedback_delays,
    offered_cells,
    overread_share,
    positive_feedback_share,
    since,
    variety_per_trainee,
)
from qa_meeting.domain.protocols import Answer, Polarity, Protocol, Question

POS, NEG, IND = Polarity.POSITIVE, Polarity.NEGATIVE, Polarity.INDETERMINATE


def _question(qid: str, *answers: tuple[str, Polarity]) -> Question:
    return Question(qid, qid, tuple(Answer(v, v, p) for v, p in answers), True)


def _protocol(pid: str, *questions: Question) -> Protocol:
    return Protocol(pid, pid, "1", "", "test", (), questions)


# Protocol p offers (p, normal), (p, q1=yes), (p, q2=left), (p, q2=right): 4 cells;
# protocol r offers (r, normal), (r, q=yes): 2 cells. 6 cells in all.
PROTOCOLS = {
    "p": _protocol(
        "p",
        _question("q1", ("yes", POS), ("no", NEG), ("unable", IND)),
        _question("q2", ("left", POS), ("right", POS), ("none", NEG)),
    ),
    "r": _protocol("r", _question("q", ("yes", POS), ("no", NEG))),
}
TODAY = date(2026, 3, 10)
D = date


def _fact(
    study_id: int, trainee: int, protocol: str, scanned: date | None, **kw: object
) -> ScanFact:
    logged = kw.pop("logged_on", scanned)
    assert isinstance(logged, date)
    return ScanFact(study_id, trainee, protocol, logged, scanned, **kw)  # type: ignore[arg-type]


FACTS = [
    # 1: Mon 5 Jan (ISO 2026-W02), over-read 2 days later, concordant, good-practice point.
    _fact(1, 1, "p", D(2026, 1, 5), overread_on=D(2026, 1, 7), discordance="concordant",
          findings=frozenset({"q1=yes"}), good_practice_point=True),
    # 2: Wed 7 Jan (W02), over-read 6 days later, discordant major.
    _fact(2, 1, "p", D(2026, 1, 7), overread_on=D(2026, 1, 13), discordance="discordant_major",
          findings=frozenset({"q1=yes", "q2=left"})),
    # 3: Mon 2 Feb (W06), over-read next day, discordant minor, a good spot, normal (no finding).
    _fact(3, 1, "r", D(2026, 2, 2), overread_on=D(2026, 2, 3), discordance="discordant_minor",
          good_spot=True),
    # 4: Tue 10 Feb (W07), over-read 2 March: 20 days, technically limited, normal.
    _fact(4, 2, "p", D(2026, 2, 10), overread_on=D(2026, 3, 2), discordance="technically_limited"),
    # 5: Fri 20 Feb, awaiting over-read: backlog, 18 days by 10 March.
    _fact(5, 2, "p", D(2026, 2, 20)),
    # 6: no scan date, logged 1 March, awaiting over-read: backlog, 9 days.
    _fact(6, 2, "r", None, logged_on=D(2026, 3, 1)),
    # 7: no trainee read yet: outside the over-read share and the backlog.
    _fact(7, 1, "p", D(2026, 3, 2), has_trainee_read=False),
    # 8: Tue 3 March (W10), over-read next day, incomplete documentation, finding q2=right.
    _fact(8, 2, "p", D(2026, 3, 3), overread_on=D(2026, 3, 4),
          discordance="incomplete_documentation", findings=frozenset({"q2=right"})),
]  # fmt: skip


def test_overread_share_overall_and_per_month() -> None:
    overall, by_month = overread_share(FACTS)
    # With a trainee read: 1, 2, 3, 4, 5, 6, 8 (7 scans); over-read: 1, 2, 3, 4, 8 (5).
    assert (overall.count, overall.of) == (5, 7)
    assert overall.share == pytest.approx(5 / 7)
    # January: 1, 2 both over-read; February: 3, 4 of 3, 4, 5; March: 8 of 6, 8.
    assert [(r.period, r.count, r.of) for r in by_month] == [
        ("2026-01", 2, 2),
        ("2026-02", 2, 3),
        ("2026-03", 1, 2),
    ]


def test_days_to_feedback_median_by_week_and_backlog() -> None:
    delays = feedback_delays(FACTS, TODAY)
    # Days: 1 -> 2, 2 -> 6, 3 -> 1, 4 -> 20, 8 -> 1, in scan order.
    assert [(d.study_id, d.days) for d in delays.delays] == [
        (1, 2),
        (2, 6),
        (3, 1),
        (4, 20),
        (8, 1),
    ]
    assert delays.median_days == 2  # sorted 1, 1, 2, 6, 20
    assert delays.by_week == [
        WeekMedian("2026-W02", 2, 4),  # median of 2 and 6
        WeekMedian("2026-W06", 1, 1),
        WeekMedian("2026-W07", 1, 20),
        WeekMedian("2026-W10", 1, 1),
    ]
    # 5: 10 March - 20 February = 18 days; 6: 10 March - 1 March = 9 days. Oldest first.
    assert delays.backlog == [Delay(5, D(2026, 2, 20), 18), Delay(6, D(2026, 3, 1), 9)]


def test_positive_feedback_share_per_month_of_the_over_read() -> None:
    overall, by_month = positive_feedback_share(FACTS)
    # Over-read: 1, 2, 3, 4, 8; positive: 1 (good-practice point) and 3 (good spot) = 2 of 5.
    assert (overall.count, overall.of, overall.share) == (2, 5, 0.4)
    # Over-read in January: 1 (7 Jan, positive), 2 (13 Jan); February: 3 (positive);
    # March: 4 (2 March) and 8 (4 March), neither positive.
    assert [(r.period, r.count, r.of) for r in by_month] == [
        ("2026-01", 1, 2),
        ("2026-02", 1, 1),
        ("2026-03", 0, 2),
    ]


def test_variety_per_trainee_counts_the_agendas_cells() -> None:
    assert len(offered_cells(PROTOCOLS)) == 6
    rows = variety_per_trainee(FACTS, PROTOCOLS)
    # Trainee 1 (over-read 1, 2, 3): (p, q1=yes), (p, q2=left), (r, normal): 3 of 6 cells,
    # protocols p and r. Trainee 2 (over-read 4, 8): (p, normal), (p, q2=right): 2 of 6, p.
    assert [(r.trainee_id, r.scans, r.protocols_seen, r.cells_seen) for r in rows] == [
        (1, 3, 2, 3),
        (2, 2, 1, 2),
    ]
    assert rows[0].coverage == 0.5 and rows[1].coverage == pytest.approx(2 / 6)


def test_discordance_rates_per_month() -> None:
    rows = discordance_by_month(FACTS)
    # January: 1 concordant, 2 major; February: 3 minor, 4 limited; March: 8 incomplete.
    assert [(r.month, r.reviewed) for r in rows] == [
        ("2026-01", 2),
        ("2026-02", 2),
        ("2026-03", 1),
    ]
    january, february, march = rows
    assert january.counts == {
        "discordant_major": 1,
        "discordant_minor": 0,
        "technically_limited": 0,
        "incomplete_documentation": 0,
    }
    assert february.counts["discordant_minor"] == february.counts["technically_limited"] == 1
    assert march.counts["incomplete_documentation"] == 1
    assert january.rate(StudyCategory.DISCORDANT_MAJOR) == 0.5
    assert february.rate(StudyCategory.DISCORDANT_MAJOR) == 0.0


def test_a_period_keeps_the_scans_of_that_day_or_later() -> None:
    # From 1 March: 6 (logged 1 March, no scan date), 7 and 8.
    assert [f.study_id for f in since(FACTS, D(2026, 3, 1))] == [6, 7, 8]
    assert since(FACTS, None) == FACTS


def test_no_scans_gives_empty_figures_not_errors() -> None:
    overall, by_month = overread_share([])
    assert (overall.of, overall.share, by_month) == (0, None, [])
    delays = feedback_delays([], TODAY)
    assert (delays.delays, delays.median_days, delays.by_week, delays.backlog) == ([], None, [], [])
    assert positive_feedback_share([])[0].share is None
    assert variety_per_trainee([], PROTOCOLS) == []
    assert discordance_by_month([]) == []


def test_no_over_reads_leaves_only_the_backlog() -> None:
    waiting = [f for f in FACTS if f.overread_on is None]
    delays = feedback_delays(waiting, TODAY)
    assert delays.median_days is None and delays.by_week == []
    assert [d.study_id for d in delays.backlog] == [5, 6]
    assert overread_share(waiting)[0].share == 0.0
    assert positive_feedback_share(waiting)[0].of == 0
