"""Queries for a trainee's private feedback: their own scans' agenda items, points, good spots.

Every function takes the operator's user id and returns only rows about that operator's scans.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, or_, select

from qa_meeting.domain.meeting import TeachingCategory
from qa_meeting.store.models import AgendaItem, Meeting, Study, TeachingPoint

__all__ = ["own_agenda_items", "own_good_spot_studies", "teaching_points_for_studies"]


def own_agenda_items(
    *, session: Session, operator_id: int
) -> Sequence[tuple[AgendaItem, Meeting, Study]]:
    """Every agenda item on a scan by ``operator_id``, with its meeting and scan, newest
    meeting first (then in agenda order)."""
    query = (
        select(AgendaItem, Meeting, Study)
        .join(Meeting, col(Meeting.id) == col(AgendaItem.meeting_id))
        .join(Study, col(Study.id) == col(AgendaItem.study_id))
        .where(Study.operator_id == operator_id)
        .order_by(
            col(Meeting.held_on).desc(),
            col(Meeting.id).desc(),
            col(AgendaItem.position),
            col(AgendaItem.id),
        )
    )
    return session.exec(query).all()


def own_good_spot_studies(*, session: Session, operator_id: int) -> Sequence[Study]:
    """Scans by ``operator_id`` flagged as a good spot or given a good-practice teaching point,
    most recently scanned first."""
    praised = select(TeachingPoint.study_id).where(
        TeachingPoint.category == TeachingCategory.GOOD_PRACTICE.value
    )
    query = (
        select(Study)
        .where(Study.operator_id == operator_id)
        .where(or_(col(Study.flagged_good_spot), col(Study.id).in_(praised)))
        .order_by(col(Study.scanned_on).desc(), col(Study.id).desc())
    )
    return session.exec(query).all()


def teaching_points_for_studies(
    *, session: Session, study_ids: Sequence[int]
) -> Sequence[TeachingPoint]:
    """The teaching points recorded on these scans, oldest first (one query for all)."""
    if not study_ids:
        return []
    query = (
        select(TeachingPoint)
        .where(col(TeachingPoint.study_id).in_(study_ids))
        .order_by(col(TeachingPoint.created_at), col(TeachingPoint.id))
    )
    return session.exec(query).all()
