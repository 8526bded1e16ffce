"""Queries for the loop figures: every scan with its reads' dates, held meetings, attendance.

A handful of grouped queries whatever the number of scans: never one query per scan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
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
    "loop_scan_rows",
    "studies_with_teaching_category",
]


@dataclass(frozen=True)
class LoopScanRow:
    """One scan as the loop figures see it (times are as stored: UTC)."""

    study_id: int
    operator_id: int | None
    protocol_id: str | None
    scanned_on: date | None
    created_at: datetime
    discordance: str | None
    good_spot: bool
    has_trainee_read: bool
    expert_read_at: datetime | None
    expert_answers: Mapping[str, Any] | None


def loop_scan_rows(*, session: Session) -> list[LoopScanRow]:
    """Every scan with whether it has a trainee read and its expert read's time and answers."""
    trainee = aliased(Read)
    expert = aliased(Read)
    query = (
        sa_select(
            col(Study.id),
            col(Study.operator_id),
            col(Study.protocol_id),
            col(Study.scanned_on),
            col(Study.created_at),
            col(Study.discordance),
            col(Study.flagged_good_spot),
            col(trainee.id),
            col(expert.created_at),
            col(expert.answers),
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
    # Plain columns, not whole rows: no ORM object per scan (100,000 scans in about a second).
    rows = []
    for (
        study_id,
        operator_id,
        protocol_id,
        scanned_on,
        created_at,
        discordance,
        good_spot,
        trainee_read_id,
        expert_at,
        expert_answers,
    ) in session.connection().execute(query):
        assert study_id is not None
        rows.append(
            LoopScanRow(
                study_id=study_id,
                operator_id=operator_id,
                protocol_id=protocol_id,
                scanned_on=scanned_on,
                created_at=created_at,
                discordance=discordance,
                good_spot=good_spot,
                has_trainee_read=trainee_read_id is not None,
                expert_read_at=expert_at,
                expert_answers=expert_answers,
            )
        )
    return rows


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
