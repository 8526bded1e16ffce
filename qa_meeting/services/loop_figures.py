"""The department's loop figures, gathered in a few grouped queries, with who may see what.

The figures themselves are pure functions (``domain/loops.py``, ``domain/cusum.py``,
``domain/cadence.py``); this service gathers their facts, turns stored times into the
department's local dates (setting ``QA_MEETING_TIMEZONE``) and applies the visibility rules:

- department figures (over-read share, days to feedback, positive feedback, discordance,
  cadence and attendance) are for every signed-in user;
- per-trainee figures name trainees only by pseudonym; a trainee sees only their own row and
  curve, labelled "You";
- the CUSUM learning curves are for the trainee concerned and the leads (chair, admin) only:
  an expert sees none.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from zoneinfo import ZoneInfo

from qa_meeting.domain.cadence import AttendanceRow, CadenceRow, MeetingFact, attendance, cadence
from qa_meeting.domain.cusum import CusumCurve, CusumParams
from qa_meeting.domain.loops import (
    DiscordanceRow,
    FeedbackDelays,
    ScanFact,
    ShareRow,
    VarietyRow,
    cusum_per_trainee,
    discordance_by_month,
    feedback_delays,
    overread_share,
    positive_feedback_share,
    since,
    variety_per_trainee,
)
from qa_meeting.domain.meeting import TeachingCategory
from qa_meeting.domain.protocols import Protocol, findings_among
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meeting_queue import CHAIR_ROLES
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import MeetingStatus, Role

YOU = "You"
PERIODS: Mapping[str, int | None] = {
    "Last 3 months": 3,
    "Last 6 months": 6,
    "Last 12 months": 12,
    "All time": None,
}


@dataclass(frozen=True)
class TraineeVariety:
    label: str  # the trainee's pseudonym, or "You"
    row: VarietyRow


@dataclass(frozen=True)
class TraineeCurve:
    label: str  # the trainee's pseudonym, or "You"
    curve: CusumCurve


@dataclass(frozen=True)
class LoopFigures:
    today: date
    first_day: date | None  # the period's first day; None: all time
    overread: ShareRow
    overread_by_month: list[ShareRow]
    delays: FeedbackDelays
    positive: ShareRow
    positive_by_month: list[ShareRow]
    discordance: list[DiscordanceRow]
    variety: list[TraineeVariety]
    curves: list[TraineeCurve]
    curves_visible: bool  # False for experts: the learning curves are not theirs to see
    cusum: CusumParams
    cadence: list[CadenceRow]
    attendance: list[AttendanceRow]


def local_today(ctx: AppContext) -> date:
    """Today in the department's time zone."""
    return datetime.now(ZoneInfo(ctx.settings.timezone)).date()


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the month's last day when shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")


def cusum_params(ctx: AppContext) -> CusumParams:
    """The CUSUM settings (validated when built: 0 < p0 < p1 < 1)."""
    s = ctx.settings
    return CusumParams(
        s.cusum_acceptable_rate, s.cusum_unacceptable_rate, s.cusum_alpha, s.cusum_beta
    )


class _LocalDates:
    """Stored UTC times (ISO text) to the department's local dates, worked out once per UTC
    hour: an hour whose first and last instants fall on the same local date lies wholly on it
    (the rare hour that straddles a local midnight is converted exactly, moment by moment)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.hours: dict[str, date] = {}

    def _local(self, moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(self.zone).date()

    def of(self, stored: str) -> date:
        """The local date of ``stored`` (call ``hours.get(stored[:13])`` first: the fast path)."""
        hour = stored[:13]
        start = datetime.fromisoformat(f"{hour}:00:00")
        first, last = self._local(start), self._local(start + _HOUR_END)
        if first == last:
            self.hours[hour] = first
            return first
        return self._local(datetime.fromisoformat(stored))


_HOUR_END = timedelta(minutes=59, seconds=59, microseconds=999_999)


def _scan_facts(ctx: AppContext, protocols: Mapping[str, Protocol]) -> list[ScanFact]:
    with transaction(ctx.engine) as session:
        good_practice = repository.studies_with_teaching_category(
            session=session, category=TeachingCategory.GOOD_PRACTICE.value
        )
        # Each batch of rows becomes facts as it arrives (one batch held, not every row).
        batches = repository.loop_scan_row_batches(session=session)
        return _facts(chain.from_iterable(batches), good_practice, ctx, protocols)


def _facts(
    rows: Iterable[repository.LoopScanRow],
    good_practice: set[int],
    ctx: AppContext,
    protocols: Mapping[str, Protocol],
) -> list[ScanFact]:
    # The agenda's definition of a finding (``meeting_queue.findings_of``), with each
    # protocol's positive answers worked out once, and each distinct answer set (per protocol)
    # parsed once; scan dates and local dates likewise once per distinct value.
    cells = {protocol_id: p.positive_values for protocol_id, p in protocols.items()}
    local = _LocalDates(ZoneInfo(ctx.settings.timezone))
    hours = local.hours
    days: dict[str, date] = {}
    found: dict[tuple[str | None, str], frozenset[str]] = {}
    none: frozenset[str] = frozenset()
    facts = []
    for (
        study_id,
        operator_id,
        protocol_id,
        scanned_text,
        created_text,
        discordance,
        good_spot,
        has_trainee_read,
        expert_text,
        answers_text,
    ) in rows:
        scanned_on = None
        if scanned_text is not None:
            scanned_on = days.get(scanned_text)
            if scanned_on is None:
                scanned_on = days[scanned_text] = date.fromisoformat(scanned_text[:10])
        logged_on = hours.get(created_text[:13]) or local.of(created_text)
        overread_on = None
        findings = none
        if expert_text is not None:
            overread_on = hours.get(expert_text[:13]) or local.of(expert_text)
            if answers_text is not None:
                key = (protocol_id, answers_text)
                cached = found.get(key)
                if cached is None:
                    cached = found[key] = _findings(answers_text, cells.get(protocol_id or ""))
                findings = cached
        facts.append(
            ScanFact(
                study_id,
                operator_id,
                protocol_id,
                logged_on,
                scanned_on,
                has_trainee_read,
                overread_on,
                discordance,
                good_spot,
                study_id in good_practice,
                findings,
            )
        )
    return facts


def _findings(answers_text: str, positive: Mapping[str, frozenset[str]] | None) -> frozenset[str]:
    answers = json.loads(answers_text)
    if not answers or not positive:
        return frozenset()
    return findings_among(answers, positive)


def _meeting_facts(ctx: AppContext) -> tuple[list[MeetingFact], frozenset[int], dict[int, str]]:
    with transaction(ctx.engine) as session:
        meetings = repository.loop_meetings(session=session)
        attended = repository.loop_attendance(session=session)
        users = repository.list_users(session=session)
    facts = [
        MeetingFact(
            m.id, m.held_on, m.status == MeetingStatus.CLOSED, attended.get(m.id, frozenset())
        )
        for m in meetings
        if m.id is not None
    ]
    trainees = frozenset(
        u.id for u in users if u.id is not None and u.active and u.role == Role.TRAINEE
    )
    pseudonyms = {u.id: u.pseudonym for u in users if u.id is not None}
    return facts, trainees, pseudonyms


def data_version(ctx: AppContext) -> str:
    """A fingerprint of what the figures read (scans, reads, teaching points, meetings,
    attendance): it changes when they change, so a page may cache the figures under it."""
    with transaction(ctx.engine) as session:
        return repr(repository.loop_data_version(session=session))


def loop_figures(
    ctx: AppContext,
    actor: Actor,
    *,
    months: int | None = 12,
    today: date | None = None,
    protocols: Mapping[str, Protocol] | None = None,
) -> LoopFigures:
    """Every loop figure for ``actor`` over the last ``months`` months (None: all time).

    The learning curves always cover each trainee's whole history; cadence always counts
    the rolling 12 months. Raises ``ValidationError`` when the CUSUM settings are invalid.
    """
    with _cycle_collection_paused():
        return _figures(ctx, actor, months, today, protocols)


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the figures are built, then resume it
    (if it was on). At department scale they allocate a few hundred thousand small acyclic
    objects (a fact, a delay, an outcome and a CUSUM point per scan), and each burst of
    allocations would set off a collection walking every live object: about half the time.
    Reference counting still frees all of them; nothing here makes reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _figures(
    ctx: AppContext,
    actor: Actor,
    months: int | None,
    today: date | None,
    protocols: Mapping[str, Protocol] | None,
) -> LoopFigures:
    params = cusum_params(ctx)
    day = today or local_today(ctx)
    first_day = months_before(day, months) if months is not None else None
    known = protocols if protocols is not None else load_protocols(ctx.settings.protocols_dir)
    every_scan = _scan_facts(ctx, known)
    scans = since(every_scan, first_day)
    meetings, active_trainees, pseudonyms = _meeting_facts(ctx)
    overread, overread_by_month = overread_share(scans)
    positive, positive_by_month = positive_feedback_share(scans)
    is_trainee = actor.role == Role.TRAINEE

    def visible(trainee_id: int) -> bool:
        return not is_trainee or trainee_id == actor.user_id

    def label(trainee_id: int) -> str:
        return YOU if trainee_id == actor.user_id else pseudonyms.get(trainee_id, "Unknown")

    curves_visible = is_trainee or actor.role in CHAIR_ROLES
    curves = cusum_per_trainee(every_scan, params) if curves_visible else {}
    return LoopFigures(
        today=day,
        first_day=first_day,
        overread=overread,
        overread_by_month=overread_by_month,
        delays=feedback_delays(scans, day),
        positive=positive,
        positive_by_month=positive_by_month,
        discordance=discordance_by_month(scans),
        variety=[
            TraineeVariety(label(row.trainee_id), row)
            for row in variety_per_trainee(scans, known)
            if visible(row.trainee_id)
        ],
        curves=[TraineeCurve(label(t), curve) for t, curve in curves.items() if visible(t)],
        curves_visible=curves_visible,
        cusum=params,
        cadence=cadence(meetings, day),
        attendance=[
            row
            for row in attendance(meetings, active_trainees)
            if first_day is None or row.held_on >= first_day
        ],
    )
