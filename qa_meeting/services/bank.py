"""The image bank: browse and filter teaching cases, self-test against the expert, import cases.

Everyone signed in may browse and self-test; importing another site's package is for a chair or
an administrator. A case is shown from its manifest (stored with the row when it was added) and
the files of its package folder under ``<data_dir>/bank/<package id>``; frame timing for the
player comes from the cleaned DICOM's header.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from qa_meeting.domain.bank import (
    BankFilter,
    SelfTestScore,
    coverage_matrix,
    matches,
    score,
)
from qa_meeting.domain.package import (
    ClinicalContext,
    ClipRecord,
    Manifest,
    QuestionRecord,
    TeachingPointRecord,
    manifest_from_json,
)
from qa_meeting.domain.protocols import Protocol
from qa_meeting.errors import NotFoundError, QaMeetingError
from qa_meeting.imaging.frames import open_cine
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.meeting_queue import require_chair
from qa_meeting.services.package import BankCaseSummary, import_package
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import BankAttempt, BankCase


@dataclass(frozen=True)
class BankRow:
    """One line of the bank list (``domain.bank.CaseFacts``)."""

    id: int
    package_id: str
    title: str
    protocol_id: str
    protocol_name: str
    views: tuple[str, ...]
    findings: tuple[str, ...]
    tags: tuple[str, ...]
    image_quality: int | None
    level: str
    discordance: str | None
    source: str
    added_at: datetime
    clips: int = 0


@dataclass(frozen=True)
class PlayerClip:
    """One cleaned loop with what the player needs: its video and when each frame starts."""

    name: str  # "clip-1"
    view: str | None
    video: Path
    dicom: Path
    key_frames: tuple[tuple[int, Path], ...]  # (0-based frame index, PNG)
    number_of_frames: int
    timestamps_ms: tuple[float, ...]
    frames_per_second: float


@dataclass(frozen=True)
class BankQuestion:
    """A protocol question, the expert's answer and the choices a self-test offers."""

    question_id: str
    text: str
    expert_answer: str | None
    expert_answer_label: str
    trainee_answer: str | None
    trainee_answer_label: str
    choices: tuple[tuple[str, str], ...]  # (value, label)


@dataclass(frozen=True)
class BankCaseView:
    """A bank case for display; the page decides when the expert's answers show."""

    id: int
    package_id: str
    title: str
    protocol_id: str
    protocol_name: str
    level: str
    source: str
    added_at: datetime
    context: ClinicalContext
    questions: tuple[BankQuestion, ...]
    expert_reasoning: str
    teaching_points: tuple[TeachingPointRecord, ...]
    key_frames: tuple[Path, ...]
    clips: tuple[PlayerClip, ...]
    views: tuple[str, ...]
    findings: tuple[str, ...]
    tags: tuple[str, ...]
    diagnosis: str
    image_quality: int | None
    discordance: str | None

    @property
    def video_paths(self) -> tuple[Path, ...]:
        return tuple(clip.video for clip in self.clips)


@dataclass(frozen=True)
class AttemptRow:
    id: int
    case_id: int
    title: str
    correct: int
    total: int
    created_at: datetime


def list_bank(ctx: AppContext, actor: Actor, filters: BankFilter | None = None) -> list[BankRow]:
    """Bank cases that pass ``filters``, newest first."""
    wanted = filters or BankFilter()
    with transaction(ctx.engine) as session:
        cases = repository.list_bank_cases(
            session=session, protocol_id=wanted.protocol_id or None, level=wanted.level or None
        )
        rows = [_row(case) for case in cases]
    return [row for row in rows if matches(row, wanted)]


def bank_case(
    ctx: AppContext, actor: Actor, case_id: int, *, record_view: bool = True
) -> BankCaseView:
    """Everything the case page shows, from the manifest and the package's files.

    ``record_view`` False: a page rerun of a case already opened, not a new view to audit.
    """
    with transaction(ctx.engine) as session:
        row = _case(session, case_id)
        if record_view:
            audit.record(session, _who(actor), "bank.view", target=f"bank:{case_id}")
    manifest, folder = _manifest(row), Path(row.package_path)
    protocol = load_protocols(ctx.settings.protocols_dir).get(row.protocol_id)
    questions = tuple(_question(q, protocol) for q in manifest.case.questions)
    clips = tuple(_player_clip(ctx, folder, clip) for clip in manifest.clips)
    case = manifest.case
    return BankCaseView(
        id=case_id,
        package_id=manifest.package_id,
        title=case.title,
        protocol_id=case.protocol_id,
        protocol_name=case.protocol_name,
        level=case.level.value,
        source=row.source,
        added_at=row.added_at,
        context=case.clinical_context,
        questions=questions,
        expert_reasoning=case.expert_reasoning,
        teaching_points=case.teaching_points,
        key_frames=tuple(path for clip in clips for _, path in clip.key_frames),
        clips=clips,
        views=case.views,
        findings=case.findings,
        tags=case.tags,
        diagnosis=case.diagnosis,
        image_quality=case.image_quality,
        discordance=case.discordance,
    )


def submit_self_test(
    ctx: AppContext, actor: Actor, case_id: int, answers: Mapping[str, str]
) -> SelfTestScore:
    """Score my answers against the expert's and keep the attempt."""
    with transaction(ctx.engine) as session:
        row = _case(session, case_id)
        expert = {q.question_id: q.expert_answer for q in _manifest(row).case.questions}
        result = score(expert, answers)
        if actor.user_id:
            attempt = BankAttempt(
                case_id=case_id,
                user_id=actor.user_id,
                answers=dict(answers),
                correct=result.correct,
                total=result.total,
            )
            repository.add_bank_attempt(session=session, attempt=attempt)
        detail = f"{result.correct}/{result.total}"
        audit.record(
            session, _who(actor), "bank.self_test", target=f"bank:{case_id}", detail=detail
        )
    return result


def my_attempts(ctx: AppContext, actor: Actor) -> list[AttemptRow]:
    """My self-test attempts, newest first."""
    with transaction(ctx.engine) as session:
        attempts = repository.list_bank_attempts(session=session, user_id=actor.user_id)
        titles = {c.id: c.title for c in repository.list_bank_cases(session=session)}
        return [
            AttemptRow(
                a.id or 0, a.case_id, titles.get(a.case_id, ""), a.correct, a.total, a.created_at
            )
            for a in attempts
        ]


def coverage(ctx: AppContext, actor: Actor) -> dict[tuple[str, str], int]:
    """How many bank cases there are per (protocol id, finding); normal studies as "normal"."""
    return coverage_matrix(list_bank(ctx, actor))


def import_bank_package(
    ctx: AppContext, actor: Actor, package: Path | bytes, *, source: str
) -> BankCaseSummary:
    """Add another site's package (a folder or .zip, or the bytes of an uploaded .zip).

    The package is checked before anything is kept: a changed file or manifest is refused with
    the package module's message (``PackageIntegrityError``), so is one still identifiable.
    """
    try:
        require_chair(actor, "import cases into the image bank")
    except QaMeetingError:
        audit.record_refusal(ctx.engine, _who(actor), "bank.import", detail="role")
        raise
    source = " ".join(source.split()) or "imported"
    try:
        if isinstance(package, bytes):
            with tempfile.TemporaryDirectory(prefix="qa-upload-") as scratch:
                upload = Path(scratch) / "package.zip"
                upload.write_bytes(package)
                summary = import_package(ctx, upload, source=source)
        else:
            summary = import_package(ctx, package, source=source)
    except QaMeetingError as exc:
        audit.record_refusal(ctx.engine, _who(actor), "bank.import", detail=type(exc).__name__)
        raise
    with transaction(ctx.engine) as session:
        detail = f"{summary.package_id} from {source}"
        audit.record(
            session, _who(actor), "bank.import", target=f"bank:{summary.id}", detail=detail
        )
    return summary


def _case(session: Session, case_id: int) -> BankCase:
    row = repository.get_bank_case(session=session, case_id=case_id)
    if row is None:
        raise NotFoundError(f"Bank case {case_id} was not found.")
    return row


def _manifest(row: BankCase) -> Manifest:
    return manifest_from_json(json.dumps(row.manifest))


def _row(case: BankCase) -> BankRow:
    data = case.manifest.get("case", {})
    return BankRow(
        id=case.id or 0,
        package_id=case.package_id,
        title=case.title,
        protocol_id=case.protocol_id,
        protocol_name=str(data.get("protocol_name", case.protocol_id)),
        views=tuple(case.views),
        findings=tuple(case.findings),
        tags=tuple(str(tag) for tag in data.get("tags", ())),
        image_quality=case.image_quality,
        level=case.level,
        discordance=case.discordance,
        source=case.source,
        added_at=case.added_at,
        clips=len(case.manifest.get("clips", ())),
    )


def _question(record: QuestionRecord, protocol: Protocol | None) -> BankQuestion:
    """The question with its choices: the local protocol's answers, else those on record."""
    known = {q.id: q for q in protocol.questions} if protocol else {}
    asked = known.get(record.question_id)
    if asked is not None:
        choices = tuple((a.value, a.label) for a in asked.answers)
    else:
        seen = [
            (record.expert_answer, record.expert_answer_label),
            (record.trainee_answer, record.trainee_answer_label),
        ]
        choices = tuple(dict.fromkeys((value, label or value) for value, label in seen if value))
    return BankQuestion(**asdict(record), choices=choices)


def _player_clip(ctx: AppContext, folder: Path, clip: ClipRecord) -> PlayerClip:
    dicom = folder / clip.dicom
    info = open_cine(dicom, max_decoded_bytes=ctx.settings.max_decoded_mb * 2**20)
    return PlayerClip(
        name=clip.name,
        view=clip.view,
        video=folder / clip.video,
        dicom=dicom,
        key_frames=tuple((k.frame_index, folder / k.path) for k in clip.key_frames),
        number_of_frames=clip.number_of_frames,
        timestamps_ms=info.timestamps_ms,
        frames_per_second=info.frames_per_second,
    )


def _who(actor: Actor) -> Actor | None:
    """The command line's actor has no user row: its events are the system's."""
    return actor if actor.user_id else None
