"""Queries for the teaching digest: attendance per role, a trainee's presented cases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from qa_meeting.store.models import AgendaItem, Attendance, Meeting, Study, User


def attendance_by_role(*, session: Session, meeting_id: int) -> dict[str, int]:
    """How many people of each role attended the meeting (no names)."""
    query = (
        select(User.role, func.count())
        .join(Attendance, col(Attendance.user_id) == col(User.id))
        .where(Attendance.meeting_id == meeting_id)
        .group_by(col(User.role))
    )
    return dict(session.exec(query).all())


def presented_items_of_operator(
    *, session: Session, operator_id: int, meeting_status: str, outcome: str
) -> Sequence[tuple[AgendaItem, Meeting]]:
    """Agenda items with ``outcome`` of the operator's scans, in meetings with
    ``meeting_status``, newest meeting first."""
    query = (
        select(AgendaItem, Meeting)
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .join(Study, col(Study.id) == col(AgendaItem.study_id))
        .where(
            Study.operator_id == operator_id,
            Meeting.status == meeting_status,
            AgendaItem.outcome == outcome,
        )
        .order_by(col(Meeting.held_on).desc(), col(Meeting.id).desc(), col(AgendaItem.position))
    )
    return [(item, meeting) for item, meeting in session.exec(query).all()]
