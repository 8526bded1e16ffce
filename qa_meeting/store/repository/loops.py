"""Queries for the loop figures: every scan with its reads' dates, held meetings, attendance.

A handful of grouped queries whatever the number of scans: never one query per scan.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Boolean, Select, String, Text, cast, func, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, and_, col, select

from qa_meeting.store.models import (
    Attendance,
    Meeting,
    MeetingStatus,
    Read,
    ReadKind,
    Study,
    TeachingPoint,
)

__all__ = [
    "LoopScanRow",
    "loop_attendance",
    "loop_data_version",
    "loop_meetings",
    "loop_scan_row_batches",
    "loop_scan_rows",
    "studies_with_teaching_category",
]


# One scan as the loop figures see it, a plain tuple (no object per scan): study id, operator id,
# protocol id, scan date as ISO text ("YYYY-MM-DD") or None, when it was logged and when its
# expert read was made as stored (UTC) ISO text ("YYYY-MM-DD HH:MM:SS[.ffffff]"), discordance,
# good spot, whether it has a trainee read, the expert's answers as JSON text (or None).
# Text, not parsed values: the service parses each distinct value once (a few hundred days, a
# few thousand distinct answer sets) rather than once per scan.
LoopScanRow = tuple[
    int, int | None, str | None, str | None, str, str | None, bool, bool, str | None, str | None
]


SCAN_ROWS_BATCH = 5_000


def loop_scan_row_batches(*, session: Session) -> Iterator[Sequence[LoopScanRow]]:
    """Every scan, in id order, with whether it has a trainee read, and its expert read's
    time and answers (one query, see ``LoopScanRow``), in batches of ``SCAN_ROWS_BATCH``
    rows: a caller that turns each row into something smaller holds one batch of them, not
    every one. Consume it inside the session."""
    execution = session.connection().execution_options(yield_per=SCAN_ROWS_BATCH)
    # Typed by hand: the id is a primary key and the logged time is never null.
    batches = execution.execute(_scan_rows()).tuples().partitions()
    yield from typing.cast(Iterator[Sequence[LoopScanRow]], batches)


def loop_scan_rows(*, session: Session) -> list[LoopScanRow]:
    """Every scan's row (``loop_scan_row_batches``), all at once."""
    return [row for batch in loop_scan_row_batches(session=session) for row in batch]


def _scan_rows() -> Select[*tuple[Any, ...]]:
    trainee = aliased(Read)
    expert = aliased(Read)
    return (
        sa_select(
            col(Study.id),
            col(Study.operator_id),
            col(Study.protocol_id),
            cast(col(Study.scanned_on), String),
            cast(col(Study.created_at), String),
            col(Study.discordance),
            col(Study.flagged_good_spot),
            type_coerce(col(trainee.id).is_not(None), Boolean),
            cast(col(expert.created_at), String),
            cast(col(expert.answers), Text),
        )
        .outerjoin(
            trainee,
            and_(col(trainee.study_id) == col(Study.id), col(trainee.kind) == ReadKind.TRAINEE),
        )
        .outerjoin(
            expert,
            and_(col(expert.study_id) == col(Study.id), col(expert.kind) == ReadKind.EXPERT),
        )
        .order_by(col(Study.id))
    )


def studies_with_teaching_category(*, session: Session, category: str) -> set[int]:
    """Ids of the scans with at least one teaching point of ``category``."""
    query = select(TeachingPoint.study_id).where(TeachingPoint.category == category).distinct()
    return set(session.exec(query).all())


def loop_meetings(*, session: Session) -> Sequence[Meeting]:
    """Every meeting, oldest first."""
    return session.exec(select(Meeting).order_by(col(Meeting.held_on), col(Meeting.id))).all()


def loop_attendance(*, session: Session) -> dict[int, frozenset[int]]:
    """Per meeting, the ids of the people recorded as attending (one query)."""
    attended: dict[int, set[int]] = {}
    for meeting_id, user_id in session.exec(select(Attendance.meeting_id, Attendance.user_id)):
        attended.setdefault(meeting_id, set()).add(user_id)
    return {meeting_id: frozenset(users) for meeting_id, users in attended.items()}


def loop_data_version(*, session: Session) -> tuple[object, ...]:
    """What changes whenever the loop figures' facts change: per table, the row count and the
    latest change (a cache of the figures is keyed by it; a few indexed aggregates)."""
    closed = col(Meeting.status) == MeetingStatus.CLOSED.value
    checks = [
        sa_select(func.count(), func.max(col(Study.updated_at))),
        sa_select(func.count(), func.max(col(Read.updated_at))),
        sa_select(func.count(), func.max(col(TeachingPoint.id))),
        sa_select(func.count(), func.max(col(Attendance.id))),
        sa_select(
            func.count(),
            func.count().filter(closed),
            func.max(col(Meeting.held_on)),
            func.max(col(Meeting.closed_at)),
        ),
    ]
    connection = session.connection()
    return tuple(value for check in checks for value in connection.execute(check).one())
