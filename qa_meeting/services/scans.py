"""Listing scans for the Home and Inbox pages, with role-based visibility.

Trainees see only the scans they performed; experts, chairs and admins see all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from qa_meeting.errors import NotFoundError
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Clip, Role, Study, StudyStatus

STAFF_ROLES = frozenset({Role.EXPERT.value, Role.CHAIR.value, Role.ADMIN.value})


def is_staff(actor: Actor) -> bool:
    return actor.role in STAFF_ROLES


@dataclass(frozen=True)
class ScanRow:
    """One line of the Inbox: nothing here identifies a patient."""

    study_id: int
    protocol_id: str | None
    operator: str
    scanned_on: date | None
    status: str
    discordance: str | None
    clips: int
    flagged_interesting: bool
    flagged_good_spot: bool
    indication: str

    def to_json(self) -> dict[str, object]:
        return {
            "study_id": self.study_id,
            "protocol_id": self.protocol_id,
            "operator": self.operator,
            "scanned_on": self.scanned_on.isoformat() if self.scanned_on else None,
            "status": self.status,
            "discordance": self.discordance,
            "clips": self.clips,
            "flagged_interesting": self.flagged_interesting,
            "flagged_good_spot": self.flagged_good_spot,
        }


@dataclass(frozen=True)
class HomeCounts:
    awaiting_read: int
    awaiting_overread: int
    reviewed: int
    discordant: int
    queued_for_meeting: int
    total: int


def list_scans(
    ctx: AppContext,
    actor: Actor,
    filters: repository.StudyFilter | None = None,
) -> list[ScanRow]:
    """Scans the actor may see, newest first. Operators are named (for staff) by display name."""
    filters = filters or repository.StudyFilter()
    if not is_staff(actor):
        filters = repository.StudyFilter(
            protocol_id=filters.protocol_id,
            operator_id=actor.user_id,
            status=filters.status,
            discordance=filters.discordance,
            limit=filters.limit,
        )
    with transaction(ctx.engine) as session:
        studies = repository.list_studies(session=session, filters=filters)
        ids = [s.id for s in studies if s.id is not None]
        counts = repository.clip_counts(session=session, study_ids=ids)
        names = {u.id: u.display_name for u in repository.list_users(session=session)}
        return [
            ScanRow(
                study_id=s.id or 0,
                protocol_id=s.protocol_id,
                operator=names.get(s.operator_id, "unassigned") if s.operator_id else "unassigned",
                scanned_on=s.scanned_on,
                status=s.status,
                discordance=s.discordance,
                clips=counts.get(s.id or 0, 0),
                flagged_interesting=s.flagged_interesting,
                flagged_good_spot=s.flagged_good_spot,
                indication=s.indication,
            )
            for s in studies
        ]


def home_counts(ctx: AppContext, actor: Actor) -> HomeCounts:
    """What is waiting, in numbers, as far as the actor may see."""
    operator_id = None if is_staff(actor) else actor.user_id
    with transaction(ctx.engine) as session:
        by_status = repository.count_studies_by(
            session=session, column="status", operator_id=operator_id
        )
        by_class = repository.count_studies_by(
            session=session, column="discordance", operator_id=operator_id
        )
        queued = repository.count_open_nominations(session=session) if is_staff(actor) else 0
    return HomeCounts(
        awaiting_read=by_status.get(StudyStatus.AWAITING_READ.value, 0),
        awaiting_overread=by_status.get(StudyStatus.AWAITING_OVERREAD.value, 0),
        reviewed=by_status.get(StudyStatus.REVIEWED.value, 0),
        discordant=sum(n for k, n in by_class.items() if (k or "").startswith("discordant")),
        queued_for_meeting=queued,
        total=sum(by_status.values()),
    )


def get_visible_study(ctx: AppContext, actor: Actor, study_id: int) -> Study:
    """The study, if the actor may see it; a trainee asking for another's scan gets not-found."""
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
        if study is None or (not is_staff(actor) and study.operator_id != actor.user_id):
            raise NotFoundError(f"Scan {study_id} was not found.")
        return study


def visible_clip(session: Session, actor: Actor, clip_id: int) -> Clip:
    """The clip, if the actor may see its scan; otherwise not-found (never "forbidden")."""
    clip = repository.get_clip(session=session, clip_id=clip_id)
    study = repository.get_study(session=session, study_id=clip.study_id) if clip else None
    if (
        clip is None
        or study is None
        or (not is_staff(actor) and study.operator_id != actor.user_id)
    ):
        raise NotFoundError(f"Clip {clip_id} was not found.")
    return clip
