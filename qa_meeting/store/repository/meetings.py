"""Queries about meetings: agenda, attendance, audience responses, teaching points."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from qa_meeting.store.models import (
    AgendaItem,
    Attendance,
    AudienceResponse,
    Meeting,
    TeachingPoint,
)


def add_meeting(*, session: Session, meeting: Meeting) -> Meeting:
    session.add(meeting)
    session.flush()
    return meeting


def get_meeting(*, session: Session, meeting_id: int) -> Meeting | None:
    return session.get(Meeting, meeting_id)


def save_meeting(*, session: Session, meeting: Meeting) -> Meeting:
    session.add(meeting)
    session.flush()
    return meeting


def list_meetings(*, session: Session, limit: int = 200) -> Sequence[Meeting]:
    query = select(Meeting).order_by(col(Meeting.held_on).desc(), col(Meeting.id).desc())
    return session.exec(query.limit(limit)).all()


def live_meeting(*, session: Session) -> Meeting | None:
    query = select(Meeting).where(Meeting.status == "live").order_by(col(Meeting.id).desc())
    return session.exec(query).first()


def list_agenda_items(*, session: Session, meeting_id: int) -> Sequence[AgendaItem]:
    query = (
        select(AgendaItem)
        .where(AgendaItem.meeting_id == meeting_id)
        .order_by(col(AgendaItem.position), col(AgendaItem.id))
    )
    return session.exec(query).all()


def get_agenda_item(*, session: Session, item_id: int) -> AgendaItem | None:
    return session.get(AgendaItem, item_id)


def save_agenda_item(*, session: Session, item: AgendaItem) -> AgendaItem:
    session.add(item)
    session.flush()
    return item


def delete_agenda_item(*, session: Session, item: AgendaItem) -> None:
    session.delete(item)
    session.flush()


def add_attendance(*, session: Session, attendance: Attendance) -> Attendance:
    session.add(attendance)
    session.flush()
    return attendance


def get_attendance(*, session: Session, meeting_id: int, user_id: int) -> Attendance | None:
    query = select(Attendance).where(
        Attendance.meeting_id == meeting_id, Attendance.user_id == user_id
    )
    return session.exec(query).first()


def list_attendance(*, session: Session, meeting_id: int) -> Sequence[Attendance]:
    query = select(Attendance).where(Attendance.meeting_id == meeting_id)
    return session.exec(query.order_by(col(Attendance.joined_at))).all()


def get_response(*, session: Session, item_id: int, user_id: int) -> AudienceResponse | None:
    query = select(AudienceResponse).where(
        AudienceResponse.agenda_item_id == item_id, AudienceResponse.user_id == user_id
    )
    return session.exec(query).first()


def save_response(*, session: Session, response: AudienceResponse) -> AudienceResponse:
    session.add(response)
    session.flush()
    return response


def list_responses(*, session: Session, item_id: int) -> Sequence[AudienceResponse]:
    query = select(AudienceResponse).where(AudienceResponse.agenda_item_id == item_id)
    return session.exec(query).all()


def add_teaching_point(*, session: Session, point: TeachingPoint) -> TeachingPoint:
    session.add(point)
    session.flush()
    return point


def list_teaching_points(
    *, session: Session, meeting_id: int | None = None, study_id: int | None = None
) -> Sequence[TeachingPoint]:
    query = select(TeachingPoint).order_by(col(TeachingPoint.created_at), col(TeachingPoint.id))
    if meeting_id is not None:
        query = query.where(TeachingPoint.meeting_id == meeting_id)
    if study_id is not None:
        query = query.where(TeachingPoint.study_id == study_id)
    return session.exec(query).all()


def outcome_counts(*, session: Session, meeting_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per meeting, how many agenda items have each outcome (one query for all meetings)."""
    if not meeting_ids:
        return {}
    query = (
        select(AgendaItem.meeting_id, AgendaItem.outcome, func.count())
        .where(col(AgendaItem.meeting_id).in_(meeting_ids))
        .group_by(col(AgendaItem.meeting_id), col(AgendaItem.outcome))
    )
    counts: dict[int, dict[str, int]] = {}
    for meeting_id, outcome, count in session.exec(query).all():
        counts.setdefault(meeting_id, {})[outcome] = count
    return counts


def attendance_counts(*, session: Session, meeting_ids: Sequence[int]) -> dict[int, int]:
    """Per meeting, how many people attended (one query for all meetings)."""
    if not meeting_ids:
        return {}
    query = (
        select(Attendance.meeting_id, func.count())
        .where(col(Attendance.meeting_id).in_(meeting_ids))
        .group_by(col(Attendance.meeting_id))
    )
    return dict(session.exec(query).all())
