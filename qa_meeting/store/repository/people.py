"""Queries about accounts and the audit trail."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from qa_meeting.store.models import (
    AuditEvent,
    User,
)


def add_user(*, session: Session, user: User) -> User:
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def get_user_by_email(*, session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def list_users(*, session: Session, role: str | None = None) -> Sequence[User]:
    query = select(User).order_by(col(User.username))
    if role is not None:
        query = query.where(User.role == role)
    return session.exec(query).all()


def count_users(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


def pseudonyms_in_use(*, session: Session) -> set[str]:
    return set(session.exec(select(User.pseudonym)).all())


def add_audit_event(*, session: Session, event: AuditEvent) -> AuditEvent:
    session.add(event)
    session.flush()
    return event


def list_audit_events(
    *, session: Session, action: str | None = None, limit: int = 200
) -> Sequence[AuditEvent]:
    query = select(AuditEvent).order_by(col(AuditEvent.id).desc())
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return session.exec(query.limit(limit)).all()
