"""Queries about image-bank exports: cases approved in meetings, exports, self-test attempts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from qa_meeting.store.models import AgendaItem, BankAttempt, Export

__all__ = [
    "add_bank_attempt",
    "bank_approved_items",
    "get_export",
    "list_bank_attempts",
    "list_export_rows",
    "save_export",
]


def bank_approved_items(
    *, session: Session, study_id: int | None = None, meeting_id: int | None = None
) -> Sequence[AgendaItem]:
    """Agenda items approved for the image bank, latest meeting first."""
    query = (
        select(AgendaItem)
        .where(col(AgendaItem.approved_for_bank).is_(True))
        .order_by(col(AgendaItem.meeting_id).desc(), col(AgendaItem.position))
    )
    if study_id is not None:
        query = query.where(AgendaItem.study_id == study_id)
    if meeting_id is not None:
        query = query.where(AgendaItem.meeting_id == meeting_id)
    return session.exec(query).all()


def save_export(*, session: Session, export: Export) -> Export:
    """Insert or update an export row (flushed, so a new one has its id)."""
    session.add(export)
    session.flush()
    return export


def get_export(*, session: Session, export_id: int) -> Export | None:
    return session.get(Export, export_id)


def list_export_rows(*, session: Session, study_id: int | None = None) -> Sequence[Export]:
    """Exports, newest first, optionally of one study."""
    query = select(Export).order_by(col(Export.id).desc())
    if study_id is not None:
        query = query.where(Export.study_id == study_id)
    return session.exec(query).all()


def add_bank_attempt(*, session: Session, attempt: BankAttempt) -> BankAttempt:
    session.add(attempt)
    session.flush()
    return attempt


def list_bank_attempts(*, session: Session, user_id: int) -> Sequence[BankAttempt]:
    """One user's self-test attempts, newest first."""
    query = (
        select(BankAttempt)
        .where(BankAttempt.user_id == user_id)
        .order_by(col(BankAttempt.created_at).desc(), col(BankAttempt.id).desc())
    )
    return session.exec(query).all()
