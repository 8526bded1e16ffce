"""Reviewing a scan: study details, the trainee's read, the expert over-read, the discordance.

Role rules live here, not in the pages: a trainee sees and edits only their own scans and
their own read; only experts, chairs and admins enter an over-read or flag a scan; nobody
over-reads their own scan. Saving a read recomputes the discordance and the meeting queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from qa_meeting.domain.discordance import DiscordanceResult, StudyCategory, compare_reads
from qa_meeting.domain.nominations import nomination_reason
from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import Confidence, StructuredRead, validate_read
from qa_meeting.errors import NotFoundError, PermissionDeniedError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.scans import is_staff
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import (
    Nomination,
    NominationStatus,
    Read,
    ReadKind,
    Role,
    Study,
    StudyStatus,
)

AGE_BANDS = ("<16", "16-24", "25-39", "40-59", "60-74", "75+")
SEXES = ("female", "male", "other", "not recorded")


@dataclass(frozen=True)
class StudyDetails:
    """What the trainee or a reviewer records about a scan (all de-identified by design)."""

    protocol_id: str | None
    operator_id: int | None
    age_band: str
    sex: str
    indication: str


@dataclass(frozen=True)
class ClipInfo:
    clip_id: int
    rows: int
    columns: int
    number_of_frames: int
    frame_time_ms: float | None
    photometric_interpretation: str
    view: str | None


@dataclass(frozen=True)
class ReviewView:
    study_id: int
    details: StudyDetails
    operator_label: str
    scanned_on: date | None
    status: str
    flagged_interesting: bool
    flagged_good_spot: bool
    clips: tuple[ClipInfo, ...]
    protocol: Protocol | None
    trainee_read: StructuredRead | None
    expert_read: StructuredRead | None
    discordance: DiscordanceResult | None
    may_edit_details: bool
    may_edit_trainee_read: bool
    may_edit_expert_read: bool


def _visible_study(session: Session, actor: Actor, study_id: int) -> Study:
    study = repository.get_study(session=session, study_id=study_id)
    if study is None or (not is_staff(actor) and study.operator_id != actor.user_id):
        raise NotFoundError(f"Scan {study_id} was not found.")
    return study


def read_from_row(row: Read) -> StructuredRead:
    return StructuredRead(
        protocol_id=row.protocol_id,
        answers=dict(row.answers),
        views_obtained=frozenset(row.views_obtained),
        missing_view_reasons=dict(row.missing_view_reasons),
        image_quality=row.image_quality,
        confidence=Confidence(row.confidence) if row.confidence else None,
        reasoning=row.reasoning,
    )


def clip_infos(session: Session, study_id: int) -> tuple[ClipInfo, ...]:
    """The study's clips as the pages show them."""
    return tuple(
        ClipInfo(
            clip_id=c.id or 0,
            rows=c.rows,
            columns=c.columns,
            number_of_frames=c.number_of_frames,
            frame_time_ms=c.frame_time_ms,
            photometric_interpretation=c.photometric_interpretation,
            view=c.view,
        )
        for c in repository.list_clips(session=session, study_id=study_id)
    )


def _may_edit_read(actor: Actor, study: Study, kind: ReadKind) -> bool:
    if kind is ReadKind.TRAINEE:
        return study.operator_id == actor.user_id or actor.role in (Role.CHAIR, Role.ADMIN)
    return is_staff(actor) and study.operator_id != actor.user_id


def _protocol_for(protocols: Mapping[str, Protocol], protocol_id: str | None) -> Protocol | None:
    if protocol_id is None:
        return None
    if protocol_id not in protocols:
        raise ValidationError(
            f"Protocol {protocol_id!r} is not loaded.",
            "Choose one of the listed protocols, or ask an administrator to add its file.",
        )
    return protocols[protocol_id]


def _discordance(
    protocol: Protocol | None, trainee: StructuredRead | None, expert: StructuredRead | None
) -> DiscordanceResult | None:
    if protocol is None or trainee is None or expert is None:
        return None
    if trainee.protocol_id != protocol.id or expert.protocol_id != protocol.id:
        return None
    return compare_reads(protocol, trainee, expert)


def get_review(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    protocols: Mapping[str, Protocol],
    *,
    record_view: bool = True,
) -> ReviewView:
    """Everything the Review page shows about one scan; the view is audited.

    ``record_view`` False: the same person is still looking at it (a page rerun), not again.
    """
    with transaction(ctx.engine) as session:
        study = _visible_study(session, actor, study_id)
        if record_view:
            audit.record(session, actor, "study.view", target=f"study:{study_id}")
        return _build_view(session, actor, study, protocols)


def _build_view(
    session: Session, actor: Actor, study: Study, protocols: Mapping[str, Protocol]
) -> ReviewView:
    assert study.id is not None
    trainee_row = repository.get_read(session=session, study_id=study.id, kind=ReadKind.TRAINEE)
    expert_row = repository.get_read(session=session, study_id=study.id, kind=ReadKind.EXPERT)
    trainee = read_from_row(trainee_row) if trainee_row else None
    expert = read_from_row(expert_row) if expert_row else None
    protocol = protocols.get(study.protocol_id) if study.protocol_id else None
    operator = (
        repository.get_user(session=session, user_id=study.operator_id)
        if study.operator_id
        else None
    )
    clips = clip_infos(session, study.id)
    return ReviewView(
        study_id=study.id,
        details=StudyDetails(
            protocol_id=study.protocol_id,
            operator_id=study.operator_id,
            age_band=study.age_band,
            sex=study.sex,
            indication=study.indication,
        ),
        operator_label=operator.display_name if operator else "unassigned",
        scanned_on=study.scanned_on,
        status=study.status,
        flagged_interesting=study.flagged_interesting,
        flagged_good_spot=study.flagged_good_spot,
        clips=clips,
        protocol=protocol,
        trainee_read=trainee,
        expert_read=expert if (expert and (is_staff(actor) or trainee)) else None,
        discordance=_discordance(protocol, trainee, expert),
        may_edit_details=is_staff(actor) or study.operator_id == actor.user_id,
        may_edit_trainee_read=_may_edit_read(actor, study, ReadKind.TRAINEE),
        may_edit_expert_read=_may_edit_read(actor, study, ReadKind.EXPERT),
    )


def update_details(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    details: StudyDetails,
    protocols: Mapping[str, Protocol],
) -> ReviewView:
    """Set the protocol, operator and de-identified clinical context of a scan."""
    _protocol_for(protocols, details.protocol_id)
    if details.age_band and details.age_band not in AGE_BANDS:
        raise ValidationError(
            f"Age band {details.age_band!r} is not allowed.", f"Use one of {', '.join(AGE_BANDS)}."
        )
    if details.sex and details.sex not in SEXES:
        raise ValidationError(f"Sex {details.sex!r} is not allowed.", f"Use one of {SEXES}.")
    with transaction(ctx.engine) as session:
        study = _visible_study(session, actor, study_id)
        if not (is_staff(actor) or study.operator_id == actor.user_id):
            raise PermissionDeniedError("Only the operator or a reviewer can edit this scan.")
        if details.operator_id != study.operator_id:
            if not is_staff(actor):
                raise PermissionDeniedError("Only a reviewer can change who performed a scan.")
            operator = (
                repository.get_user(session=session, user_id=details.operator_id)
                if details.operator_id
                else None
            )
            if details.operator_id and (operator is None or operator.role != Role.TRAINEE):
                raise ValidationError("The operator must be a trainee account.")
        read_protocols = {
            r.protocol_id
            for kind in ReadKind
            if (r := repository.get_read(session=session, study_id=study_id, kind=kind))
        }
        if read_protocols and details.protocol_id not in read_protocols:
            raise ValidationError(
                "This scan already has reads under another protocol.",
                "Keep the protocol, or ask an administrator to remove the reads first.",
            )
        study.protocol_id = details.protocol_id
        study.operator_id = details.operator_id
        study.age_band = details.age_band
        study.sex = details.sex
        study.indication = details.indication.strip()
        repository.save_study(session=session, study=study)
        audit.record(session, actor, "study.details", target=f"study:{study_id}")
        return _build_view(session, actor, study, protocols)


def set_flags(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    *,
    interesting: bool,
    good_spot: bool,
    protocols: Mapping[str, Protocol],
) -> ReviewView:
    """Flag a scan as interesting or as a good spot (reviewers only); updates the queue."""
    if not is_staff(actor):
        raise PermissionDeniedError("Only a reviewer can flag scans for the meeting.")
    with transaction(ctx.engine) as session:
        study = _visible_study(session, actor, study_id)
        study.flagged_interesting = interesting
        study.flagged_good_spot = good_spot
        repository.save_study(session=session, study=study)
        _refresh_queue(session, study)
        audit.record(
            session,
            actor,
            "study.flags",
            target=f"study:{study_id}",
            detail=f"interesting={interesting} good_spot={good_spot}",
        )
        return _build_view(session, actor, study, protocols)


def save_read(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    kind: ReadKind,
    read: StructuredRead,
    protocols: Mapping[str, Protocol],
) -> ReviewView:
    """Validate and store a read; recompute the discordance, status and queue in one go."""
    protocol = _protocol_for(protocols, read.protocol_id)
    assert protocol is not None
    checked = validate_read(read, protocol)
    with transaction(ctx.engine) as session:
        study = _visible_study(session, actor, study_id)
        if not _may_edit_read(actor, study, kind):
            audit.record_refusal(
                ctx.engine, actor, f"read.{kind.value}", target=f"study:{study_id}"
            )
            raise PermissionDeniedError(
                "You cannot enter this read."
                if kind is ReadKind.TRAINEE
                else "Only an expert who did not perform the scan can enter the over-read."
            )
        if study.protocol_id not in (None, protocol.id):
            raise ValidationError(
                f"This scan was recorded under {study.protocol_id}, not {protocol.id}.",
                "Use the scan's protocol, or change it in the scan details first.",
            )
        study.protocol_id = protocol.id
        store_read_in_session(session, actor, study, kind, checked, protocol)
        audit.record(session, actor, f"read.{kind.value}", target=f"study:{study_id}")
        return _build_view(session, actor, study, protocols)


def store_read_in_session(
    session: Session,
    actor: Actor,
    study: Study,
    kind: ReadKind,
    checked: StructuredRead,
    protocol: Protocol,
) -> None:
    """Store a validated read by ``actor`` and recompute the discordance, status and queue,
    inside the caller's transaction (no checks, no audit: the caller does both).

    ``save_read`` and the ward round store reads through this one path.
    """
    assert study.id is not None
    row = repository.get_read(session=session, study_id=study.id, kind=kind) or Read(
        study_id=study.id, reader_id=actor.user_id, kind=kind.value, protocol_id=protocol.id
    )
    row.reader_id = actor.user_id
    row.protocol_id = protocol.id
    row.answers = dict(checked.answers)
    row.views_obtained = sorted(checked.views_obtained)
    row.missing_view_reasons = dict(checked.missing_view_reasons)
    row.image_quality = checked.image_quality
    row.confidence = checked.confidence.value if checked.confidence else ""
    row.reasoning = checked.reasoning
    repository.save_read(session=session, read=row)
    _recompute(session, study, protocol)


def _recompute(session: Session, study: Study, protocol: Protocol) -> None:
    assert study.id is not None
    trainee = repository.get_read(session=session, study_id=study.id, kind=ReadKind.TRAINEE)
    expert = repository.get_read(session=session, study_id=study.id, kind=ReadKind.EXPERT)
    if expert is not None and trainee is not None:
        result = compare_reads(protocol, read_from_row(trainee), read_from_row(expert))
        study.discordance = result.category.value
        study.status = StudyStatus.REVIEWED.value
    else:
        study.discordance = None
        study.status = (
            StudyStatus.AWAITING_OVERREAD.value if trainee else StudyStatus.AWAITING_READ.value
        )
    repository.save_study(session=session, study=study)
    _refresh_queue(session, study)


def _refresh_queue(session: Session, study: Study) -> None:
    """Queue, re-reason or drop the scan's automatic nomination; chair decisions stay."""
    assert study.id is not None
    category = StudyCategory(study.discordance) if study.discordance else None
    reason = nomination_reason(
        category, interesting=study.flagged_interesting, good_spot=study.flagged_good_spot
    )
    nomination = repository.get_nomination(session=session, study_id=study.id)
    if nomination is None:
        if reason is not None:
            repository.save_nomination(
                session=session, nomination=Nomination(study_id=study.id, reason=reason.value)
            )
        return
    if nomination.source != "auto" or nomination.status != NominationStatus.QUEUED:
        return
    if reason is None:
        repository.delete_nomination(session=session, nomination=nomination)
    else:
        nomination.reason = reason.value
        repository.save_nomination(session=session, nomination=nomination)
