"""The audit trail: who did what, when, and how it ended.

Targets and details are ids and codes, never patient identifiers.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from qa_meeting.services.context import Actor
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import AuditEvent


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    target: str = "",
    outcome: str = "ok",
    detail: str = "",
) -> None:
    """Add an audit event inside the caller's transaction."""
    repository.add_audit_event(
        session=session,
        event=AuditEvent(
            user_id=(actor.user_id or None) if actor else None,  # the CLI has no user row
            username=actor.username if actor else "system",
            action=action,
            target=target[:200],
            outcome=outcome,
            detail=detail,
        ),
    )


def record_refusal(
    engine: Engine, actor: Actor | None, action: str, *, target: str = "", detail: str = ""
) -> None:
    """Record a refused action in a transaction of its own, so it outlives the refusal."""
    with transaction(engine) as session:
        record(session, actor, action, target=target, outcome="refused", detail=detail)
