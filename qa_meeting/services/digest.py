"""The post-meeting teaching digest: build it, and write it as HTML and PDF.

``meeting_digest`` gathers a closed meeting's presented cases (deferred ones only counted),
``personal_digest`` a trainee's own presented scans across meetings (the operator shown as
"You"). Operators appear only as the meeting's "Trainee A/B"; patients by sex and age band.
Every free text (indication, the expert's reasoning, teaching points and their tags, annotation
labels) passes the shared identifier check with the staff's names and the names in the loops'
DICOM headers, and what it finds is replaced; the digest counts those replacements so the chair
can fix the source text. The renderers look once more for the whole names and codes, and refuse
rather than write a file that would leak one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlmodel import Session

from qa_meeting.domain.bank import expert_findings, header_names
from qa_meeting.domain.digest import (
    Digest,
    DigestCase,
    PointEntry,
    answer_rows,
    classification_label,
    clean_text,
    forbidden_terms,
    is_good_spot,
    meeting_figures,
    patient_line,
)
from qa_meeting.domain.meeting import label
from qa_meeting.domain.protocols import Protocol
from qa_meeting.errors import NotFoundError, ValidationError
from qa_meeting.services import audit
from qa_meeting.services.context import Actor, AppContext
from qa_meeting.services.digest_frames import case_sources, frame_links, key_frames
from qa_meeting.services.digest_html import render_html
from qa_meeting.services.digest_pdf import render_pdf
from qa_meeting.services.export_steps import original_identifiers
from qa_meeting.services.protocols import load_protocols
from qa_meeting.store import repository
from qa_meeting.store.db import transaction
from qa_meeting.store.models import AgendaItem, ItemOutcome, Meeting, MeetingStatus, User

HTML_NAME, PDF_NAME = "digest.html", "digest.pdf"
YOU = "You"
NO_CASES = "None of your scans has been presented at a QA meeting yet."


@dataclass(frozen=True)
class DigestMeeting:
    """A closed meeting whose digest can be built (newest first on the page)."""

    id: int
    held_on: date
    presented: int
    closed_at: str  # changes when the meeting is closed again: part of the page's cache key

    @property
    def label(self) -> str:
        return f"{held_on_text(self.held_on)} (meeting {self.id}, {self.presented} case(s))"


@dataclass(frozen=True)
class _Built:
    case: DigestCase
    redactions: int
    forbidden: tuple[str, ...]
    protocol_id: str
    findings: tuple[str, ...]
    classification: str
    operator_id: int | None


def held_on_text(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def digest_meetings(ctx: AppContext, actor: Actor) -> list[DigestMeeting]:
    """Closed meetings, newest first: any signed-in user may read their digest."""
    del actor  # learning points reach everyone, and a digest identifies no one
    with transaction(ctx.engine) as session:
        rows = [m for m in repository.list_meetings(session=session) if m.id is not None]
        closed = [m for m in rows if m.status == MeetingStatus.CLOSED]
        counts = repository.outcome_counts(session=session, meeting_ids=[m.id or 0 for m in closed])
    return [
        DigestMeeting(
            id=m.id or 0,
            held_on=m.held_on,
            presented=counts.get(m.id or 0, {}).get(ItemOutcome.PRESENTED.value, 0),
            closed_at=m.closed_at.isoformat() if m.closed_at else "",
        )
        for m in closed
    ]


def meeting_digest(ctx: AppContext, actor: Actor, meeting_id: int) -> Digest:
    """The teaching digest of a closed meeting, for any signed-in user (audited: it leaves)."""
    protocols = load_protocols(ctx.settings.protocols_dir)
    with transaction(ctx.engine) as session:
        meeting = _closed_meeting(session, meeting_id)
        items = list(repository.list_agenda_items(session=session, meeting_id=meeting_id))
        users = list(repository.list_users(session=session))
        by_role = repository.attendance_by_role(session=session, meeting_id=meeting_id)
    staff = tuple(u.display_name for u in users)
    presented = [i for i in items if i.outcome == ItemOutcome.PRESENTED]
    built = [
        _build_case(ctx, item, n, item.trainee_label or "Trainee", staff, protocols)
        for n, item in enumerate(presented, start=1)
    ]
    figures = meeting_figures(
        outcomes=[i.outcome for i in items],
        attendance_by_role=by_role,
        classifications=[b.classification for b in built],
        protocol_findings=[(b.protocol_id, b.findings) for b in built],
    )
    _audit(ctx, actor, "digest.meeting", f"meeting:{meeting_id}", built)
    return Digest(
        title=f"QA meeting digest: {held_on_text(meeting.held_on)}",
        subtitle=(
            f"Held on {held_on_text(meeting.held_on)}, {meeting.slot_minutes}-minute slot, "
            f"{len(presented)} case(s) presented"
        ),
        generated_on=date.today(),
        cases=tuple(b.case for b in built),
        figures=figures,
        redactions=sum(b.redactions for b in built),
        empty_note="" if built else "No case was presented at this meeting.",
        forbidden=_forbidden(users, built, operators=_operators(users, built)),
    )


def personal_digest(ctx: AppContext, actor: Actor) -> Digest:
    """The actor's own scans presented at closed meetings, newest meeting first, the operator
    shown as "You"; no one else's cases. Empty, with a line saying so, when there are none."""
    protocols = load_protocols(ctx.settings.protocols_dir)
    with transaction(ctx.engine) as session:
        rows = repository.presented_items_of_operator(
            session=session,
            operator_id=actor.user_id,
            meeting_status=MeetingStatus.CLOSED.value,
            outcome=ItemOutcome.PRESENTED.value,
        )
        users = list(repository.list_users(session=session))
    staff = tuple(u.display_name for u in users)
    built = [
        _build_case(ctx, item, n, YOU, staff, protocols, meeting=_meeting_line(meeting))
        for n, (item, meeting) in enumerate(rows, start=1)
    ]
    mine = [u for u in users if u.id == actor.user_id]
    _audit(ctx, actor, "digest.personal", f"user:{actor.user_id}", built)
    return Digest(
        title="My feedback: my scans presented at QA meetings",
        subtitle=f"{len(built)} case(s) from {len({m.id for _, m in rows})} meeting(s)",
        generated_on=date.today(),
        cases=tuple(b.case for b in built),
        redactions=sum(b.redactions for b in built),
        empty_note="" if built else NO_CASES,
        forbidden=_forbidden(users, built, operators=mine),
    )


@dataclass(frozen=True)
class DigestFiles:
    """A meeting's digest rendered, for the page's downloads and preview."""

    title: str
    html: str
    pdf: bytes
    redactions: int
    cases: int


def meeting_digest_files(ctx: AppContext, actor: Actor, meeting_id: int) -> DigestFiles:
    """``meeting_digest`` rendered as HTML and PDF (both checked for leaks)."""
    return _rendered(meeting_digest(ctx, actor, meeting_id))


def personal_digest_files(ctx: AppContext, actor: Actor) -> DigestFiles:
    """``personal_digest`` rendered as HTML and PDF (both checked for leaks)."""
    return _rendered(personal_digest(ctx, actor))


def _rendered(built: Digest) -> DigestFiles:
    return DigestFiles(
        built.title, render_html(built), render_pdf(built), built.redactions, len(built.cases)
    )


def write_digest(digest: Digest, out_dir: Path) -> tuple[Path, Path]:
    """Write ``digest.html`` and ``digest.pdf`` into ``out_dir`` (each under a temporary name,
    then renamed); both are rendered, and checked, before either is written."""
    html = render_html(digest).encode("utf-8")
    pdf = render_pdf(digest)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _write_atomically(out_dir / HTML_NAME, html), _write_atomically(out_dir / PDF_NAME, pdf)


def _write_atomically(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _audit(
    ctx: AppContext, actor: Actor, action: str, target: str, built: Sequence[_Built]
) -> None:
    with transaction(ctx.engine) as session:
        redactions = sum(b.redactions for b in built)
        detail = f"cases={len(built)} redactions={redactions}"
        audit.record(session, actor, action, target=target, detail=detail)


def _closed_meeting(session: Session, meeting_id: int) -> Meeting:
    meeting = repository.get_meeting(session=session, meeting_id=meeting_id)
    if meeting is None:
        raise NotFoundError(
            f"Meeting {meeting_id} was not found.",
            "Pick a closed meeting from the Digest page, or list them with "
            "`qa-meeting meetings list`.",
        )
    if meeting.status != MeetingStatus.CLOSED:
        raise ValidationError(
            f"Meeting {meeting_id} is {meeting.status}, not closed: its digest is not final yet.",
            "The chair closes the meeting (Present, Attendance & close), then the digest can be "
            "built.",
        )
    return meeting


def _meeting_line(meeting: Meeting) -> str:
    return f"Presented at the QA meeting of {held_on_text(meeting.held_on)}"


def _operators(users: Sequence[User], built: Sequence[_Built]) -> list[User]:
    """The users who performed the built cases' scans (already loaded: no further query)."""
    ids = {b.operator_id for b in built}
    return [u for u in users if u.id in ids]


def _forbidden(
    users: Sequence[User], built: Sequence[_Built], operators: Sequence[User]
) -> tuple[str, ...]:
    headers = [value for b in built for value in b.forbidden]
    return forbidden_terms(
        [u.display_name for u in users],
        headers,
        pseudonyms=[u.pseudonym for u in users],
        usernames=[u.username for u in operators],
    )


def _build_case(
    ctx: AppContext,
    item: AgendaItem,
    number: int,
    operator: str,
    staff: tuple[str, ...],
    protocols: Mapping[str, Protocol],
    *,
    meeting: str = "",
) -> _Built:
    with transaction(ctx.engine) as session:
        study = repository.get_study(session=session, study_id=item.study_id)
        assert study is not None, item.study_id
        sources = case_sources(session, study_id=item.study_id, meeting_id=item.meeting_id)
        loops, notes, points = sources.loops, sources.notes, sources.points
        trainee = repository.get_read(session=session, study_id=item.study_id, kind="trainee")
        expert = repository.get_read(session=session, study_id=item.study_id, kind="expert")
    originals = original_identifiers(ctx, loops)
    names = [*staff, *header_names(originals)]
    count = 0

    def clean(text: str) -> str:
        nonlocal count
        cleaned, found = clean_text(text, names)
        count += found
        return cleaned

    protocol = protocols.get(study.protocol_id or "")
    labels = {a.id or 0: clean(a.label) for a in notes if a.label}
    entries = tuple(
        PointEntry(clean(p.text), label(p.category), tuple(clean(t) for t in p.tags))
        for p in points
    )
    expert_answers = dict(expert.answers) if expert else {}
    classification = classification_label(item.consensus_category or study.discordance)
    case = DigestCase(
        number=number,
        protocol=protocol.name if protocol else (study.protocol_id or "Unknown protocol"),
        classification=classification,
        operator=operator,
        patient=patient_line(study.sex, study.age_band),
        question=clean(study.indication) or "Not recorded",
        frames=key_frames(ctx, loops, frame_links(loops, points, notes, labels)),
        answers=answer_rows(protocol, dict(trainee.answers) if trainee else {}, expert_answers),
        reasoning=clean(expert.reasoning) if expert else "",
        points=entries,
        error_stage=label(item.error_stage) if item.error_stage else "",
        remedial_action=label(item.remedial_action) if item.remedial_action else "",
        good_spot=is_good_spot(study.flagged_good_spot, (p.category for p in points)),
        meeting=meeting,
    )
    findings = expert_findings(protocol, expert_answers) if protocol else ()
    return _Built(
        case,
        count,
        tuple(originals),
        study.protocol_id or "",
        findings,
        classification,
        study.operator_id,
    )
