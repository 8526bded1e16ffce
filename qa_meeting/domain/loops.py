"""Loop figures: is the department's feedback loop working? Pure functions over plain facts.

Every date is the department's local date; every function takes the facts and, where it needs
one, a reference day (``today``): nothing here reads a clock. A scan's *day* is its scan date
(``Study.scanned_on``), or the day it was logged when the scan date is unknown; months are
calendar months of that day, written ``YYYY-MM``.

- **Over-read share**: of the scans with a trainee read, the share that also have an expert
  over-read; overall and per month of the scan.
- **Days to feedback**: the over-read's date minus the scan date, for scans with both; the
  distribution, the median overall and the median per ISO week of the scan (``YYYY-Www``).
  Scans still awaiting their over-read are the *backlog*, each with its age so far (today minus
  its day).
- **Positive feedback share**: of the over-read scans, the share whose feedback is positive:
  the scan was flagged a good spot, or a teaching point on it has the category
  ``good_practice``. Per month of the over-read.
- **Case variety per trainee**: the protocol x finding cells of the trainee's over-read scans,
  exactly as the agenda builder counts them (``agenda.variety_cells``: a finding is an expert
  answer of positive polarity, ``question=value``; a scan without one covers ``normal``), over
  every cell the configured protocols offer (each positive answer of each question, plus
  ``normal`` per protocol); also the protocols seen.
- **Discordance over time**: per month of the scan, of the reviewed scans (those with a
  discordance category), the share that are discordant-major, discordant-minor, technically
  limited and incomplete documentation.
- **CUSUM learning curve**: see ``domain/cusum.py``. Meeting cadence: ``domain/cadence.py``.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple

from qa_meeting.domain.agenda import NORMAL, QueueEntry, variety_cells
from qa_meeting.domain.cusum import CusumCurve, CusumParams, Outcome, cusum_curve
from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.nominations import NominationReason
from qa_meeting.domain.protocols import Polarity, Protocol

DISCORDANT = frozenset({StudyCategory.DISCORDANT_MAJOR.value, StudyCategory.DISCORDANT_MINOR.value})
RATE_CATEGORIES = (
    StudyCategory.DISCORDANT_MAJOR,
    StudyCategory.DISCORDANT_MINOR,
    StudyCategory.TECHNICALLY_LIMITED,
    StudyCategory.INCOMPLETE_DOCUMENTATION,
)


class ScanFact(NamedTuple):
    """What the loop figures need to know about one scan (no identities beyond ids).

    Immutable, like the other figures' values; a named tuple because there is one per scan
    (built several times faster than a frozen dataclass)."""

    study_id: int
    trainee_id: int | None
    protocol_id: str | None
    logged_on: date
    scanned_on: date | None = None
    has_trainee_read: bool = True
    overread_on: date | None = None  # the expert read's date; None: no over-read yet
    discordance: str | None = None
    good_spot: bool = False
    good_practice_point: bool = False
    findings: frozenset[str] = frozenset()  # the expert's positive answers, "question=value"

    @property
    def day(self) -> date:
        return self.scanned_on or self.logged_on

    @property
    def over_read(self) -> bool:
        return self.overread_on is not None

    @property
    def positive_feedback(self) -> bool:
        return self.over_read and (self.good_spot or self.good_practice_point)


@lru_cache(maxsize=8192)  # a few thousand distinct days, asked about once per scan
def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@lru_cache(maxsize=8192)
def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def since(facts: Iterable[ScanFact], first_day: date | None) -> list[ScanFact]:
    """The scans whose day is ``first_day`` or later (all of them when None)."""
    if first_day is None:
        return list(facts)
    return [f for f in facts if (f.scanned_on or f.logged_on) >= first_day]


@dataclass(frozen=True)
class ShareRow:
    """A share in one period (``period`` is a month, a week or "all")."""

    period: str
    count: int
    of: int

    @property
    def share(self) -> float | None:
        return share(self.count, self.of)


def _monthly(counted: Iterable[tuple[date, bool]]) -> tuple[ShareRow, list[ShareRow]]:
    """Overall and per month of the day: how many of the (day, counted) pairs are counted.

    The pairs are tallied per distinct (day, counted) first (a few hundred days, however many
    scans), then per month."""
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (day, hit), n in Counter(counted).items():
        tally = months[month_of(day)]
        tally[0] += n if hit else 0
        tally[1] += n
    rows = [ShareRow(period, c, n) for period, (c, n) in sorted(months.items())]
    return ShareRow("all", sum(r.count for r in rows), sum(r.of for r in rows)), rows


def overread_share(facts: Sequence[ScanFact]) -> tuple[ShareRow, list[ShareRow]]:
    """Over-read scans among scans with a trainee read: overall, then per month of the scan."""
    return _monthly(
        (f.scanned_on or f.logged_on, f.overread_on is not None)
        for f in facts
        if f.has_trainee_read
    )


def positive_feedback_share(facts: Sequence[ScanFact]) -> tuple[ShareRow, list[ShareRow]]:
    """Positive feedback among over-read scans: overall, then per month of the over-read."""
    return _monthly(
        (f.overread_on, f.good_spot or f.good_practice_point)
        for f in facts
        if f.overread_on is not None
    )


class Delay(NamedTuple):  # one per over-read scan: a named tuple, cheap to build
    study_id: int
    scanned_on: date
    days: int


@dataclass(frozen=True)
class WeekMedian:
    week: str
    scans: int
    median_days: float


@dataclass(frozen=True)
class FeedbackDelays:
    delays: list[Delay]  # over-read scans with a scan date: days from scan to over-read
    median_days: float | None
    by_week: list[WeekMedian]  # per ISO week of the scan
    backlog: list[Delay]  # scans awaiting over-read: days waited so far, oldest first


def feedback_delays(facts: Sequence[ScanFact], today: date) -> FeedbackDelays:
    """Days from scan to over-read, their median overall and per week, and the backlog."""
    # Sorted as plain (scan date, study id, over-read date) tuples, then made delays.
    ordered = sorted(
        (
            (f.scanned_on, f.study_id, f.overread_on)
            for f in facts
            if f.scanned_on is not None and f.overread_on is not None
        ),
        key=itemgetter(0, 1),
    )
    delays = [Delay(study_id, day, (read_on - day).days) for day, study_id, read_on in ordered]
    weeks: dict[str, list[int]] = defaultdict(list)
    for day, same_day in groupby(delays, key=itemgetter(1)):  # by scan date
        weeks[week_of(day)].extend([delay.days for delay in same_day])
    backlog = sorted(
        (
            Delay(f.study_id, f.day, (today - f.day).days)
            for f in facts
            if f.has_trainee_read and f.overread_on is None
        ),
        key=lambda d: (-d.days, d.study_id),
    )
    return FeedbackDelays(
        delays=delays,
        median_days=statistics.median(d.days for d in delays) if delays else None,
        by_week=[
            WeekMedian(week, len(days), statistics.median(days))
            for week, days in sorted(weeks.items())
        ],
        backlog=backlog,
    )


@dataclass(frozen=True)
class VarietyRow:
    trainee_id: int
    scans: int  # the trainee's over-read scans
    protocols_seen: int
    cells_seen: int
    cells_offered: int

    @property
    def coverage(self) -> float | None:
        return share(self.cells_seen, self.cells_offered)


def offered_cells(protocols: Mapping[str, Protocol]) -> frozenset[tuple[str, str]]:
    """Every protocol x finding cell: each positive answer of each question, and ``normal``."""
    cells = {(p.id, NORMAL) for p in protocols.values()}
    for protocol in protocols.values():
        for question in protocol.questions:
            cells.update(
                (protocol.id, f"{question.id}={answer.value}")
                for answer in question.answers
                if answer.polarity is Polarity.POSITIVE
            )
    return frozenset(cells)


def _as_entry(protocol_id: str | None, findings: frozenset[str]) -> QueueEntry:
    """A scan of this kind as the agenda builder sees it, so its cells are counted the
    agenda's way (they depend on the protocol and the findings alone, not on which scan or
    whose: the study id is left 0 and the trainee unset)."""
    return QueueEntry(
        study_id=0,
        reason=NominationReason.CHAIR_ADDED,
        pinned=False,
        trainee_id=None,
        protocol_id=protocol_id or "unknown",
        views=frozenset(),
        findings=findings,
        error_stage=None,
    )


def variety_per_trainee(
    facts: Sequence[ScanFact], protocols: Mapping[str, Protocol]
) -> list[VarietyRow]:
    """Per trainee with over-read scans: protocols and protocol x finding cells covered."""
    offered = offered_cells(protocols)
    # The over-read scans counted per trainee and kind (protocol, findings): scans of one kind
    # cover the same cells, so the agenda's count reads each kind once.
    counted = Counter(
        (f.trainee_id, f.protocol_id, f.findings)
        for f in facts
        if f.trainee_id is not None and f.overread_on is not None and f.protocol_id in protocols
    )
    scans: dict[int, int] = defaultdict(int)
    kinds: dict[int, list[tuple[str | None, frozenset[str]]]] = defaultdict(list)
    for (trainee, protocol_id, findings), n in counted.items():
        assert trainee is not None
        scans[trainee] += n
        kinds[trainee].append((protocol_id, findings))
    # The agenda's cells of each kind, worked out once however many trainees share it; a
    # trainee's cells are the union over their kinds (as ``variety_cells`` unions per scan).
    cells_of: dict[tuple[str | None, frozenset[str]], set[tuple[str, str]]] = {}
    rows = []
    for trainee_id, seen in sorted(kinds.items()):
        cells: set[tuple[str, str]] = set()
        for kind in seen:
            kind_cells = cells_of.get(kind)
            if kind_cells is None:
                kind_cells = cells_of[kind] = variety_cells([_as_entry(*kind)]) & offered
            cells |= kind_cells
        rows.append(
            VarietyRow(
                trainee_id=trainee_id,
                scans=scans[trainee_id],
                protocols_seen=len({protocol_id for protocol_id, _ in seen}),
                cells_seen=len(cells),
                cells_offered=len(offered),
            )
        )
    return rows


@dataclass(frozen=True)
class DiscordanceRow:
    month: str
    reviewed: int
    counts: dict[str, int]  # per category in RATE_CATEGORIES

    def rate(self, category: StudyCategory) -> float | None:
        return share(self.counts.get(category.value, 0), self.reviewed)


def discordance_by_month(facts: Sequence[ScanFact]) -> list[DiscordanceRow]:
    """Per month of the scan: reviewed scans and how many fall in each category."""
    months: dict[str, Counter[str]] = defaultdict(Counter)
    reviewed = Counter(
        (f.scanned_on or f.logged_on, f.discordance) for f in facts if f.discordance is not None
    )
    for (day, category), n in reviewed.items():
        months[month_of(day)][category] += n
    return [
        DiscordanceRow(
            month=month,
            reviewed=categories.total(),
            counts={c.value: categories[c.value] for c in RATE_CATEGORIES},
        )
        for month, categories in sorted(months.items())
    ]


def cusum_per_trainee(facts: Sequence[ScanFact], params: CusumParams) -> dict[int, CusumCurve]:
    """Each trainee's learning curve over their reviewed scans (failure = discordant)."""
    outcomes: dict[int, list[Outcome]] = defaultdict(list)
    for fact in facts:
        if fact.trainee_id is not None and fact.discordance is not None:
            outcomes[fact.trainee_id].append(
                Outcome(
                    fact.scanned_on or fact.logged_on,
                    fact.study_id,
                    fact.discordance in DISCORDANT,
                )
            )
    return {trainee: cusum_curve(rows, params) for trainee, rows in sorted(outcomes.items())}
