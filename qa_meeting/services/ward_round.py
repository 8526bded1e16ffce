"""The ward-round review: a consultant's two-minute over-read of a recent scan, on a phone.

The expert picks a recent scan, answers the protocol's questions, writes one line of
reasoning and may flag the scan for the QA meeting or as a good spot (one tap: feedback must not
only arrive when something is wrong). That is stored as the expert over-read, exactly as the
Review page would store it: the discordance, the scan's status and the meeting queue are
updated in the same transaction. The views obtained and the image quality are the trainee's
(the ward round does not re-grade them); the audit event ``read.expert`` with the detail
"ward round" marks where the over-read came from.

Trainees never see this list; operators appear only by their pseudonym, patients only by age
band.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from qa_meeting.domain.discordance import StudyCategory, category_label
from qa_meeting.domain.nominations import NominationReason
from qa_meeting.domain.protocols import Protocol
from qa_meeting.domain.reads import StructuredRead, validate_read
from qa_meeting.errors import NotFoundError, PermissionDeniedError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.review import store_read_in_session
from qa_meeting.services.scans import is_staff
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import Clip, NominationStatus, Read, ReadKind, StudyStatus

RECENT_DAYS = 14
RECENT_LIMIT = 30
MAX_REASONING = 200
AUDIT_DETAIL = "ward round"

_REASON_LABELS = {
    NominationReason.DISCORDANT_MAJOR: "discordant (major)",
    NominationReason.DISCORDANT_MINOR: "discordant (minor)",
    NominationReason.TECHNICALLY_LIMITED: "technically limited",
    NominationReason.INTERESTING: "flagged for the QA meeting",
    NominationReason.GOOD_SPOT: "good spot",
    NominationReason.CHAIR_ADDED: "added by the chair",
}


@dataclass(frozen=True)
class RecentScan:
    """One scan the reviewer may over-read; nothing here identifies a patient or an operator."""

    study_id: int
    protocol_id: str
    protocol_title: str
    views: tuple[str, ...]
    scanned_on: date | None
    trainee_label: str
    age_band: str
    awaiting_overread: bool
    clip_ids: tuple[int, ...]
    expert_answers: Mapping[str, str]
    flagged_for_meeting: bool
    flagged_good_spot: bool

    def days_ago(self, today: date) -> int | None:
        return (today - self.scanned_on).days if self.scanned_on else None


@dataclass(frozen=True)
class WardRoundResult:
    """What the page confirms after saving."""

    study_id: int
    category: StudyCategory | None
    queued: bool
    queue_reason: NominationReason | None

    @property
    def category_text(self) -> str:
        if self.category is None:
            return "not classified (the trainee's read is missing)"
        return category_label(self.category)

    @property
    def queue_text(self) -> str:
        if not self.queued or self.queue_reason is None:
            return "not queued for the QA meeting"
        return f"queued for the QA meeting: {_REASON_LABELS[self.queue_reason]}"


def _require_staff(actor: Actor) -> None:
    if not is_staff(actor):
        raise PermissionDeniedError(
            "Only an expert, chair or administrator can enter a ward-round over-read.",
            "Log your own scans on the Inbox and Review pages; a reviewer will over-read them.",
        )


def _views(clips: list[Clip], trainee: Read | None, protocol: Protocol | None) -> tuple[str, ...]:
    ids = [c.view for c in clips if c.view] or (sorted(trainee.views_obtained) if trainee else [])
    known = {v.id: v.label for v in protocol.views} if protocol else {}
    return tuple(dict.fromkeys(known.get(view_id, view_id) for view_id in ids))


def recent_scans(
    ctx: AppContext,
    actor: Actor,
    protocols: Mapping[str, Protocol],
    *,
    days: int = RECENT_DAYS,
    limit: int = RECENT_LIMIT,
    today: date | None = None,
) -> list[RecentScan]:
    """Scans of the last ``days`` days the actor may over-read (not their own), at most ``limit``.

    Those awaiting their over-read come first, then newest first. Reviewers only.
    """
    _require_staff(actor)
    since = (today or date.today()) - timedelta(days=days)
    with transaction(ctx.engine) as session:
        studies = repository.recent_studies_for_overread(
            session=session, since=since, reviewer_id=actor.user_id, limit=limit
        )
        ids = [s.id for s in studies if s.id is not None]
        clips = repository.clips_by_study(session=session, study_ids=ids)
        trainee_reads = repository.reads_by_study(
            session=session, study_ids=ids, kind=ReadKind.TRAINEE.value
        )
        expert_reads = repository.reads_by_study(
            session=session, study_ids=ids, kind=ReadKind.EXPERT.value
        )
        pseudonyms = {u.id: u.pseudonym for u in repository.list_users(session=session)}
    scans: list[RecentScan] = []
    for study in studies:
        assert study.id is not None and study.protocol_id is not None
        protocol = protocols.get(study.protocol_id)
        expert = expert_reads.get(study.id)
        operator = pseudonyms.get(study.operator_id) if study.operator_id else None
        scans.append(
            RecentScan(
                study_id=study.id,
                protocol_id=study.protocol_id,
                protocol_title=protocol.name if protocol else study.protocol_id,
                views=_views(clips.get(study.id, []), trainee_reads.get(study.id), protocol),
                scanned_on=study.scanned_on,
                trainee_label=f"Trainee {operator}" if operator else "Operator not set",
                age_band=study.age_band,
                awaiting_overread=study.status == StudyStatus.AWAITING_OVERREAD.value,
                clip_ids=tuple(c.id for c in clips.get(study.id, []) if c.id is not None),
                expert_answers=dict(expert.answers) if expert else {},
                flagged_for_meeting=study.flagged_interesting,
                flagged_good_spot=study.flagged_good_spot,
            )
        )
    return scans


def check_reasoning(reasoning: str) -> str:
    """The one line of reasoning, stripped; refused when empty, multi-line or too long."""
    line = reasoning.strip()
    if not line:
        raise ValidationError(
            "The reasoning is empty.",
            "Write one line on why: what you saw and what it means for the patient.",
        )
    if "\n" in line or "\r" in line:
        raise ValidationError(
            "The reasoning must be one line.",
            "Remove the line breaks; longer teaching belongs on the Review page.",
        )
    if len(line) > MAX_REASONING:
        raise ValidationError(
            f"The reasoning is {len(line)} characters long; at most {MAX_REASONING} fit a "
            "ward-round review.",
            "Shorten it to one line, or write the full over-read on the Review page.",
        )
    return line


def check_answers(answers: Mapping[str, str], protocol: Protocol) -> dict[str, str]:
    """Every question of the protocol answered with one of its allowed answers."""
    for question_id in answers:
        if not any(q.id == question_id for q in protocol.questions):
            raise ValidationError(
                f"{question_id!r} is not a question of {protocol.name}.",
                "Answer the questions the form shows for this scan's protocol.",
            )
    checked: dict[str, str] = {}
    for question in protocol.questions:
        value = (answers.get(question.id) or "").strip()
        if not value:
            raise ValidationError(
                f'"{question.text}" is not answered.',
                'Answer every question; choose "unable to assess" where you could not tell.',
            )
        if value not in question.allowed_values:
            allowed = ", ".join(a.label for a in question.answers)
            raise ValidationError(
                f'{value!r} is not an answer to "{question.text}".',
                f"Choose one of: {allowed}.",
            )
        checked[question.id] = value
    return checked


def record_ward_round(
    ctx: AppContext,
    actor: Actor,
    study_id: int,
    answers: Mapping[str, str],
    reasoning: str,
    *,
    for_meeting: bool,
    good_spot: bool,
    protocols: Mapping[str, Protocol],
) -> WardRoundResult:
    """Store the ward-round over-read and flags; recompute the discordance and the queue.

    One transaction: the expert read (views and image quality taken from the trainee's read),
    the flags (``for_meeting`` is the "interesting" flag), the discordance, status and meeting
    queue, and the audit event. Refusals raise before anything is stored.
    """
    _require_staff(actor)
    line = check_reasoning(reasoning)
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=study_id)
        if study is None:
            raise NotFoundError(f"Scan {study_id} was not found.")
        if study.operator_id == actor.user_id:
            audit.record_refusal(ctx.engine, actor, "read.expert", target=f"study:{study_id}")
            raise PermissionDeniedError(
                "You performed this scan, so you cannot over-read it.",
                "Ask another expert to review it.",
            )
        protocol = protocols.get(study.protocol_id) if study.protocol_id else None
        if protocol is None:
            raise ValidationError(
                f"Scan {study_id} has no loaded protocol, so its questions are unknown.",
                "Set the protocol on the Review page first.",
            )
        checked = check_answers(answers, protocol)
        trainee = repository.get_read(session=session, study_id=study_id, kind=ReadKind.TRAINEE)
        read = validate_read(
            StructuredRead(
                protocol_id=protocol.id,
                answers=checked,
                views_obtained=frozenset(trainee.views_obtained) if trainee else frozenset(),
                image_quality=trainee.image_quality if trainee else None,
                reasoning=line,
            ),
            protocol,
        )
        study.flagged_interesting = for_meeting
        study.flagged_good_spot = good_spot
        store_read_in_session(session, actor, study, ReadKind.EXPERT, read, protocol)
        audit.record(session, actor, "read.expert", target=f"study:{study_id}", detail=AUDIT_DETAIL)
        nomination = repository.get_nomination(session=session, study_id=study_id)
        open_states = (NominationStatus.QUEUED.value, NominationStatus.PINNED.value)
        queued = nomination is not None and nomination.status in open_states
        return WardRoundResult(
            study_id=study_id,
            category=StudyCategory(study.discordance) if study.discordance else None,
            queued=queued,
            queue_reason=NominationReason(nomination.reason) if queued and nomination else None,
        )
