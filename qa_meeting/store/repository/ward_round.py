"""Queries for the ward-round review: recent scans a reviewer may over-read, and their clips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from sqlalchemy import and_, case, or_
from sqlmodel import Session, col, select

from qa_meeting.store.models import Clip, Study, StudyStatus

__all__ = ["clips_by_study", "recent_studies_for_overread"]


def recent_studies_for_overread(
    *, session: Session, since: date, reviewer_id: int, limit: int
) -> Sequence[Study]:
    """Studies with a protocol, scanned on or after ``since``, not performed by the reviewer.

    A study without a scan date counts from the day it was stored. Studies awaiting their
    over-read come first; then newest first.
    """
    scanned = or_(
        col(Study.scanned_on) >= since,
        and_(
            col(Study.scanned_on).is_(None),
            col(Study.created_at) >= datetime.combine(since, time.min, tzinfo=UTC),
        ),
    )
    not_theirs = or_(col(Study.operator_id).is_(None), col(Study.operator_id) != reviewer_id)
    awaiting_first = case((col(Study.status) == StudyStatus.AWAITING_OVERREAD.value, 0), else_=1)
    query = (
        select(Study)
        .where(col(Study.protocol_id).is_not(None), scanned, not_theirs)
        .order_by(
            awaiting_first,
            col(Study.scanned_on).desc().nulls_last(),
            col(Study.created_at).desc(),
            col(Study.id).desc(),
        )
        .limit(limit)
    )
    return session.exec(query).all()


def clips_by_study(*, session: Session, study_ids: Sequence[int]) -> dict[int, list[Clip]]:
    """Each study's clips in the order they were stored (studies without clips are absent)."""
    if not study_ids:
        return {}
    query = select(Clip).where(col(Clip.study_id).in_(study_ids)).order_by(col(Clip.id))
    grouped: dict[int, list[Clip]] = {}
    for clip in session.exec(query).all():
        grouped.setdefault(clip.study_id, []).append(clip)
    return grouped
