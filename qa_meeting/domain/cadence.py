"""Meeting cadence and attendance, against the RCR's minimum of 6 learning meetings a year.

- **Cadence**: at the end of each month (and today, for the current month), the number of
  *held* meetings (closed ones) in the rolling 12 months up to that day: held after the same
  day a year earlier and on or before it. The chart draws the RCR minimum of 6 as a line.
- **Attendance**: per held meeting, everyone recorded as attending, and the share of the
  currently active trainees who attended (trainees who have since left are not counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

RCR_MINIMUM_PER_YEAR = 6


@dataclass(frozen=True)
class MeetingFact:
    meeting_id: int
    held_on: date
    closed: bool
    attendee_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class CadenceRow:
    as_of: date
    meetings: int  # held in the 12 months up to and including as_of
    minimum: int = RCR_MINIMUM_PER_YEAR

    @property
    def meets_minimum(self) -> bool:
        return self.meetings >= self.minimum


@dataclass(frozen=True)
class AttendanceRow:
    meeting_id: int
    held_on: date
    attendees: int
    trainees_attended: int
    active_trainees: int

    @property
    def trainee_share(self) -> float | None:
        return self.trainees_attended / self.active_trainees if self.active_trainees else None


def year_before(day: date) -> date:
    """The same day a year earlier (28 February for 29 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def held_in_year_to(meetings: Sequence[MeetingFact], day: date) -> int:
    """Held meetings after ``year_before(day)`` and on or before ``day``."""
    start = year_before(day)
    return sum(1 for m in meetings if m.closed and start < m.held_on <= day)


def _month_ends(first: date, today: date) -> list[date]:
    ends = []
    month = first.replace(day=1)
    while month <= today:
        following = (month + timedelta(days=32)).replace(day=1)
        ends.append(min(following - timedelta(days=1), today))
        month = following
    return ends


def cadence(meetings: Sequence[MeetingFact], today: date) -> list[CadenceRow]:
    """Rolling 12-month count of held meetings at each month end, from the first one to today."""
    held = [m for m in meetings if m.closed and m.held_on <= today]
    if not held:
        return []
    first = min(m.held_on for m in held)
    return [CadenceRow(day, held_in_year_to(held, day)) for day in _month_ends(first, today)]


def attendance(
    meetings: Sequence[MeetingFact], active_trainee_ids: frozenset[int]
) -> list[AttendanceRow]:
    """Per held meeting, oldest first: attendees and active trainees who attended."""
    return [
        AttendanceRow(
            meeting_id=m.meeting_id,
            held_on=m.held_on,
            attendees=len(m.attendee_ids),
            trainees_attended=len(m.attendee_ids & active_trainee_ids),
            active_trainees=len(active_trainee_ids),
        )
        for m in sorted(meetings, key=lambda m: (m.held_on, m.meeting_id))
        if m.closed
    ]
