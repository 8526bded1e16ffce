"""The queue for the next QA meeting: automatic nominations plus the chair's additions.

Nominations carry over from meeting to meeting until the case is presented or dismissed. Only a
chair or an admin changes the queue; experts may see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from qa_meeting.domain.agenda import QueueEntry
from qa_meeting.domain.discordance import StudyCategory
from qa_meeting.domain.meeting import ErrorStage
from qa_meeting.domain.nominations import PRIORITY, NominationReason
from qa_meeting.domain.protocols import Protocol, findings_among
from qa_meeting.domain.reads import DIAGNOSTIC_IMAGE_QUALITY
from qa_meeting.errors import NotFoundError, PermissionDeniedError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.scans import is_staff
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Nomination, NominationStatus, Read, ReadKind, Role, Study

CHAIR_ROLES = frozenset({Role.CHAIR.value, Role.ADMIN.value})


def require_chair(actor: Actor, what: str) -> None:
    if actor.role not in CHAIR_ROLES:
        raise PermissionDeniedError(f"Only the meeting chair can {what}.")


@dataclass(frozen=True)
class QueueRow:
    study_id: int
    reason: NominationReason
    pinned: bool
    source: str
    protocol_id: str | None
    operator: str
    scanned_on: date | None
    discordance: str | None


def _priority(reason: str) -> int:
    try:
        return PRIORITY.index(NominationReason(reason))
    except ValueError:
        return len(PRIORITY)


def list_queue(ctx: AppContext, actor: Actor) -> list[QueueRow]:
    """Open nominations, strongest reason first, then oldest first."""
    if not is_staff(actor):
        raise PermissionDeniedError("The meeting queue is for experts and chairs.")
    with transaction(ctx.engine) as session:
        nominations = repository.list_open_nominations(session=session)
        studies = repository.studies_by_id(
            session=session, study_ids=[n.study_id for n in nominations]
        )
        names = {u.id: u.display_name for u in repository.list_users(session=session)}
    rows = [
        QueueRow(
            study_id=n.study_id,
            reason=NominationReason(n.reason),
            pinned=n.status == NominationStatus.PINNED,
            source=n.source,
            protocol_id=studies[n.study_id].protocol_id,
            operator=names.get(studies[n.study_id].operator_id or 0, "unassigned"),
            scanned_on=studies[n.study_id].scanned_on,
            discordance=studies[n.study_id].discordance,
        )
        for n in nominations
    ]
    return sorted(rows, key=lambda r: (not r.pinned, _priority(r.reason)))


def _study(session: Session, study_id: int) -> Study:
    study = repository.get_study(session=session, study_id=study_id)
    if study is None:
        raise NotFoundError(f"Scan {study_id} was not found.")
    return study


def add_to_queue(ctx: AppContext, actor: Actor, study_id: int) -> None:
    """The chair adds any scan; a dismissed or presented one comes back."""
    require_chair(actor, "add scans to the queue")
    with transaction(ctx.engine) as session:
        study = _study(session, study_id)
        if study.protocol_id is None:
            raise ValidationError(
                f"Scan {study_id} has no protocol yet.",
                "Set its protocol and reads in Review before queueing it.",
            )
        nomination = repository.get_nomination(session=session, study_id=study_id)
        if nomination is None:
            nomination = Nomination(study_id=study_id, reason=NominationReason.CHAIR_ADDED.value)
        elif nomination.status in (NominationStatus.QUEUED, NominationStatus.PINNED):
            return
        nomination.source = "chair"
        nomination.status = NominationStatus.QUEUED.value
        repository.save_nomination(session=session, nomination=nomination)
        audit.record(session, actor, "queue.add", target=f"study:{study_id}")


def set_queue_status(
    ctx: AppContext, actor: Actor, study_id: int, status: NominationStatus
) -> None:
    """Pin, unpin (queued) or dismiss a queued scan."""
    require_chair(actor, "change the queue")
    with transaction(ctx.engine) as session:
        nomination = repository.get_nomination(session=session, study_id=study_id)
        if nomination is None:
            raise NotFoundError(f"Scan {study_id} is not in the queue.")
        nomination.status = status.value
        nomination.source = "chair" if status is NominationStatus.DISMISSED else nomination.source
        repository.save_nomination(session=session, nomination=nomination)
        audit.record(session, actor, f"queue.{status.value}", target=f"study:{study_id}")


def findings_of(read: Read | None, protocol: Protocol | None) -> frozenset[str]:
    """The read's positive answers as "question=value" cells: the agenda's and the loop
    figures' one definition of a finding (none: the scan covers the protocol's normal cell)."""
    if read is None or protocol is None:
        return frozenset()
    return findings_among(read.answers, protocol.positive_values)


def _error_stage(study: Study, expert: Read | None) -> str | None:
    """A first guess, before the meeting agrees its own: where did it go wrong?"""
    if study.discordance == StudyCategory.TECHNICALLY_LIMITED or (
        expert is not None
        and expert.image_quality is not None
        and expert.image_quality < DIAGNOSTIC_IMAGE_QUALITY
    ):
        return ErrorStage.ACQUISITION.value
    if (study.discordance or "").startswith("discordant"):
        return ErrorStage.INTERPRETATION.value
    if study.discordance == StudyCategory.INCOMPLETE_DOCUMENTATION:
        return ErrorStage.INDICATION.value
    return None


def queue_entries(
    ctx: AppContext, actor: Actor, protocols: dict[str, Protocol]
) -> list[QueueEntry]:
    """The queue as the agenda builder sees it: variety facts per scan, no identities."""
    require_chair(actor, "build the agenda")
    with transaction(ctx.engine) as session:
        nominations = repository.list_open_nominations(session=session)
        ids = [n.study_id for n in nominations]
        studies = repository.studies_by_id(session=session, study_ids=ids)
        experts = repository.reads_by_study(session=session, study_ids=ids, kind=ReadKind.EXPERT)
    entries = []
    for n in nominations:
        study = studies[n.study_id]
        expert = experts.get(n.study_id)
        protocol = protocols.get(study.protocol_id or "")
        entries.append(
            QueueEntry(
                study_id=n.study_id,
                reason=NominationReason(n.reason),
                pinned=n.status == NominationStatus.PINNED,
                trainee_id=study.operator_id,
                protocol_id=study.protocol_id or "unknown",
                views=frozenset(expert.views_obtained) if expert else frozenset(),
                findings=findings_of(expert, protocol),
                error_stage=_error_stage(study, expert),
            )
        )
    return entries
