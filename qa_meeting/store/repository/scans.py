"""Queries about studies, clips, reads, annotations and the meeting queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from qa_meeting.store.models import (
    Annotation,
    Clip,
    Nomination,
    NominationStatus,
    Read,
    Study,
    utcnow,
)


def get_study(*, session: Session, study_id: int) -> Study | None:
    return session.get(Study, study_id)


def get_study_by_uid(*, session: Session, study_instance_uid: str) -> Study | None:
    query = select(Study).where(Study.study_instance_uid == study_instance_uid)
    return session.exec(query).first()


def add_study(*, session: Session, study: Study) -> Study:
    session.add(study)
    session.flush()
    return study


def save_study(*, session: Session, study: Study) -> Study:
    study.updated_at = utcnow()
    session.add(study)
    session.flush()
    return study


def count_studies(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Study)).one()


@dataclass(frozen=True)
class StudyFilter:
    """Inbox filters; ``None`` means any."""

    protocol_id: str | None = None
    operator_id: int | None = None
    status: str | None = None
    discordance: str | None = None
    limit: int = 500


def list_studies(*, session: Session, filters: StudyFilter = StudyFilter()) -> Sequence[Study]:
    query = select(Study).order_by(col(Study.created_at).desc(), col(Study.id).desc())
    if filters.protocol_id is not None:
        query = query.where(Study.protocol_id == filters.protocol_id)
    if filters.operator_id is not None:
        query = query.where(Study.operator_id == filters.operator_id)
    if filters.status is not None:
        query = query.where(Study.status == filters.status)
    if filters.discordance is not None:
        query = query.where(Study.discordance == filters.discordance)
    return session.exec(query.limit(filters.limit)).all()


def count_studies_by(
    *, session: Session, column: str, operator_id: int | None = None
) -> dict[str | None, int]:
    """Count studies grouped by one column (status, discordance, protocol_id)."""
    attribute = getattr(Study, column)
    query = select(attribute, func.count()).group_by(attribute)
    if operator_id is not None:
        query = query.where(Study.operator_id == operator_id)
    return dict(session.exec(query).all())


def get_clip_by_sop_uid(*, session: Session, sop_instance_uid: str) -> Clip | None:
    query = select(Clip).where(Clip.sop_instance_uid == sop_instance_uid)
    return session.exec(query).first()


def add_clip(*, session: Session, clip: Clip) -> Clip:
    session.add(clip)
    session.flush()
    return clip


def list_clips(*, session: Session, study_id: int) -> Sequence[Clip]:
    query = select(Clip).where(Clip.study_id == study_id).order_by(col(Clip.id))
    return session.exec(query).all()


def clip_counts(*, session: Session, study_ids: Sequence[int]) -> dict[int, int]:
    if not study_ids:
        return {}
    query = (
        select(Clip.study_id, func.count())
        .where(col(Clip.study_id).in_(study_ids))
        .group_by(col(Clip.study_id))
    )
    return dict(session.exec(query).all())


def get_read(*, session: Session, study_id: int, kind: str) -> Read | None:
    query = select(Read).where(Read.study_id == study_id, Read.kind == kind)
    return session.exec(query).first()


def save_read(*, session: Session, read: Read) -> Read:
    read.updated_at = utcnow()
    session.add(read)
    session.flush()
    return read


def get_nomination(*, session: Session, study_id: int) -> Nomination | None:
    return session.exec(select(Nomination).where(Nomination.study_id == study_id)).first()


def save_nomination(*, session: Session, nomination: Nomination) -> Nomination:
    nomination.updated_at = utcnow()
    session.add(nomination)
    session.flush()
    return nomination


def count_open_nominations(*, session: Session) -> int:
    open_states = (NominationStatus.QUEUED.value, NominationStatus.PINNED.value)
    query = (
        select(func.count()).select_from(Nomination).where(col(Nomination.status).in_(open_states))
    )
    return session.exec(query).one()


def delete_nomination(*, session: Session, nomination: Nomination) -> None:
    session.delete(nomination)
    session.flush()


def get_clip_by_sha256(*, session: Session, sha256: str) -> Clip | None:
    """Any clip whose original has these bytes (media cleanup checks for references)."""
    return session.exec(select(Clip).where(Clip.sha256 == sha256)).first()


def get_study_by_demo_case(*, session: Session, demo_case: str) -> Study | None:
    """The study loaded from the demo case with this id, if it is loaded."""
    return session.exec(select(Study).where(Study.demo_case == demo_case)).first()


def get_clip(*, session: Session, clip_id: int) -> Clip | None:
    return session.get(Clip, clip_id)


def add_annotation(*, session: Session, annotation: Annotation) -> Annotation:
    session.add(annotation)
    session.flush()
    return annotation


def get_annotation(*, session: Session, annotation_id: int) -> Annotation | None:
    return session.get(Annotation, annotation_id)


def list_annotations(*, session: Session, clip_id: int) -> Sequence[Annotation]:
    query = (
        select(Annotation)
        .where(Annotation.clip_id == clip_id)
        .order_by(col(Annotation.frame_index), col(Annotation.id))
    )
    return session.exec(query).all()


def delete_annotation(*, session: Session, annotation: Annotation) -> None:
    session.delete(annotation)
    session.flush()


def list_all_clips(*, session: Session) -> Sequence[Clip]:
    return session.exec(select(Clip).order_by(col(Clip.id))).all()


def list_open_nominations(*, session: Session) -> Sequence[Nomination]:
    open_states = (NominationStatus.QUEUED.value, NominationStatus.PINNED.value)
    query = (
        select(Nomination)
        .where(col(Nomination.status).in_(open_states))
        .order_by(col(Nomination.created_at), col(Nomination.id))
    )
    return session.exec(query).all()


def studies_by_id(*, session: Session, study_ids: Sequence[int]) -> dict[int, Study]:
    if not study_ids:
        return {}
    rows = session.exec(select(Study).where(col(Study.id).in_(study_ids))).all()
    return {row.id: row for row in rows if row.id is not None}


def reads_by_study(*, session: Session, study_ids: Sequence[int], kind: str) -> dict[int, Read]:
    if not study_ids:
        return {}
    query = select(Read).where(col(Read.study_id).in_(study_ids), Read.kind == kind)
    return {row.study_id: row for row in session.exec(query).all()}
